import { queueName, resultKey } from '@blip-jobs/shared';
import type { Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from './app.js';
import { createBlipClient } from './client.js';
import { compareStreamIds } from './services/job-events.js';
import { MODEL_VERSION, eventually, standInWorker, startTestApi, type TestApi } from './test-support.js';

let t: TestApi;
const workers: Worker[] = [];

beforeAll(async () => {
  t = await startTestApi();
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

afterAll(async () => {
  await t?.stop();
});

interface Callbacks {
  onData: (d: { id: string; data: any }) => void;
  onError: (e: unknown) => void;
  onComplete: () => void;
}

/** Collects a subscription's events; `ended` resolves when the server ends the stream and rejects on an error. */
function receive(subscribe: (callbacks: Callbacks) => { unsubscribe(): void }) {
  const events: { id: string; data: any }[] = [];
  let sub!: { unsubscribe(): void };
  const ended = new Promise<void>((resolve, reject) => {
    sub = subscribe({ onData: (d) => events.push(d), onError: reject, onComplete: resolve });
  });
  ended.catch(() => undefined);
  return { events, ended, stop: () => sub.unsubscribe() };
}

const brief = (e: { data: { type: string; state: string; progress?: unknown } }) =>
  e.data.type === 'state' ? e.data.state : `progress:${(e.data.progress as { stage: string }).stage}`;

describe('jobs.watch', () => {
  it('streams state and progress in order, ends at completion, and resumes after any event without repeats', async () => {
    const c = t.client();
    const { jobIds } = await c.caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }] });
    const jobId = jobIds[0]!;
    const live = receive((cb) => c.jobs.watch.subscribe({ jobId }, cb));
    await eventually(() => live.events.length === 1);
    expect(live.events[0]!.data).toMatchObject({ type: 'state', state: 'waiting' });

    let release!: () => void;
    workers.push(standInWorker(t, queueName('caption'), { gate: new Promise<void>((r) => (release = r)) }));
    await eventually(() => live.events.some((e) => brief(e) === 'progress:batched'));
    release();
    await live.ended;

    const events = live.events;
    expect(events.map(brief)).toEqual(['waiting', 'active', 'progress:fetching', 'progress:batched', 'progress:writing', 'completed']);
    expect(events.at(-1)!.data).toMatchObject({ resultKey: resultKey('caption', MODEL_VERSION, jobId), modelVersion: MODEL_VERSION });
    for (let i = 1; i < events.length; i++) expect(compareStreamIds(events[i]!.id, events[i - 1]!.id)).toBeGreaterThan(0);

    // Resume after each event: exactly the events after it, with the same ids.
    for (let k = 0; k < events.length - 1; k++) {
      const again = receive((cb) => c.jobs.watch.subscribe({ jobId, lastEventId: events[k]!.id }, cb));
      await again.ended;
      expect(again.events).toEqual(events.slice(k + 1));
    }
    // Without a last id, a finished job gives its final state and ends.
    const late = receive((cb) => c.jobs.watch.subscribe({ jobId }, cb));
    await late.ended;
    expect(late.events.map(brief)).toEqual(['completed']);
  });

  it('picks up where a dropped client left off', async () => {
    const c = t.client();
    const { jobIds } = await c.vqa.submit.mutate({ items: [{ image: 's3://bkt/1.png', question: 'what shape?' }] });
    const jobId = jobIds[0]!;
    const first = receive((cb) => c.jobs.watch.subscribe({ jobId }, cb));
    await eventually(() => first.events.length === 1);
    first.stop();
    workers.push(standInWorker(t, queueName('vqa'), { fail: { code: 'IMAGE_NOT_FOUND', message: 'no such object' } }));
    await eventually(async () => (await c.jobs.get.query({ jobId })).state === 'failed');
    const resumed = receive((cb) => c.jobs.watch.subscribe({ jobId, lastEventId: first.events[0]!.id }, cb));
    await resumed.ended;
    expect(resumed.events.map(brief)).toEqual(['active', 'progress:fetching', 'progress:batched', 'failed']);
    expect(resumed.events.at(-1)!.data.failure).toEqual({ code: 'IMAGE_NOT_FOUND', message: 'no such object' });
  });

  it('ends when the job is cancelled', async () => {
    const c = t.client();
    const { jobIds } = await c.embed.submit.mutate({ items: [{ text: 'x' }] });
    const watch = receive((cb) => c.jobs.watch.subscribe({ jobId: jobIds[0]! }, cb));
    await eventually(() => watch.events.length === 1);
    await c.jobs.cancel.mutate({ jobId: jobIds[0]! });
    await watch.ended;
    expect(watch.events.map(brief)).toEqual(['waiting', 'removed']);
  });

  it('refuses another tenant\'s job and a missing key', async () => {
    const { jobIds } = await t.client('acme').caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }] });
    const other = receive((cb) => t.client('globex').jobs.watch.subscribe({ jobId: jobIds[0]! }, cb));
    await expect(other.ended).rejects.toMatchObject({ data: { code: 'NOT_FOUND' }, message: `job ${jobIds[0]} not found` });
    const anon = receive((cb) => createBlipClient({ url: t.url, apiKey: '' }).jobs.watch.subscribe({ jobId: jobIds[0]! }, cb));
    await expect(anon.ended).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });
});

describe('jobs.watch across an API restart', () => {
  it('reconnects by itself and resumes after the last event it got', async () => {
    const a = await startTestApi();
    const port = Number(new URL(a.url).port);
    let b: Awaited<ReturnType<typeof createApi>> | undefined;
    let worker: Worker | undefined;
    try {
      const c = a.client();
      const { batchId, jobIds } = await c.caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }] });
      const watch = receive((cb) => c.jobs.watch.subscribe({ jobId: jobIds[0]! }, cb));
      await eventually(() => watch.events.length === 1);
      // The job runs to the end while no API is up; the replacement replays what the client missed.
      await a.api.close();
      worker = standInWorker(a, queueName('caption'));
      await eventually(async () => (await a.batches.get(batchId))?.pending === 0);
      b = await createApi(a.config);
      await b.listen(port, '127.0.0.1');
      await watch.ended;
      expect(watch.events.map(brief)).toEqual(['waiting', 'active', 'progress:fetching', 'progress:batched', 'progress:writing', 'completed']);
    } finally {
      await worker?.close();
      await b?.close();
      await a.stop();
    }
  }, 15_000);
});

describe('batches.watch', () => {
  it('reports progress as jobs finish and ends when none is pending', async () => {
    const c = t.client();
    const { batchId } = await c.filter.submit.mutate({ items: [1, 2, 3, 4].map((i) => ({ image: `s3://bkt/${i}.png`, text: 'a circle' })) });
    const watch = receive((cb) => c.batches.watch.subscribe({ batchId }, cb));
    await eventually(() => watch.events.length === 1);
    expect(watch.events[0]).toMatchObject({ id: '0', data: { total: 4, pending: 4 } });
    workers.push(standInWorker(t, queueName('filter')));
    await watch.ended;
    const last = watch.events.at(-1)!;
    expect(last).toMatchObject({ id: '4', data: { pending: 0, counts: { completed: 4, failed: 0, cancelled: 0 } } });
    const finished = watch.events.map((e) => Number(e.id));
    expect([...finished].sort((a, b) => a - b)).toEqual(finished);
    // Resuming with the last id of a finished batch ends at once, with nothing new.
    const again = receive((cb) => c.batches.watch.subscribe({ batchId, lastEventId: last.id }, cb));
    await again.ended;
    expect(again.events).toEqual([]);
  });
});
