/**
 * API → Redis → worker → S3, as separate processes over real protocols: batches of caption, VQA,
 * filter and embed jobs give exactly what libs/med-model gives in process; progress streams in
 * order; cancel and idempotency keys behave.
 */
import { Blip, type Caption } from '@blip-jobs/med-model';
import { resultKey, type JobResult } from '@blip-jobs/shared';
import { S3Storage } from '@blip-jobs/shared/storage';
import { exactCaptionMatch } from '@blip-jobs/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES } from '../support/samples.js';
import { MODEL_DIR, Stack } from '../support/stack.js';
import { waitForBatch, waitForJob } from '../support/wait.js';

let stack: Stack;
let blip: Blip;
const uri = (i: number) => `s3://user-images/${SAMPLES[i % SAMPLES.length]!.file}`;
const bytes = () => SAMPLES.map((s) => s.bytes);

beforeAll(async () => {
  stack = await Stack.start({ workers: 1 });
  const images = new S3Storage(stack.storage.client, 'user-images');
  for (const s of SAMPLES) await images.put(s.file, s.bytes, { contentType: 'image/png' });
  blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1, transferInputs: false });
});

afterAll(async () => {
  await blip?.close();
  await stack?.stop();
});

async function readResult<T extends JobResult>(key: string): Promise<T> {
  const o = await stack.storage.get(key);
  expect(o, `result object ${key}`).not.toBeNull();
  return JSON.parse(o!.body.toString()) as T;
}

describe('caption batch of 200', () => {
  it('completes every job with the in-process caption, results in S3 at versioned keys', async () => {
    const client = stack.client();
    const expected: Caption[][] = await blip.caption(bytes(), { mode: 'beam' });
    const submitted = await client.caption.submit.mutate({ items: Array.from({ length: 200 }, (_, i) => ({ image: uri(i) })) });
    expect(submitted.jobIds).toHaveLength(200);
    expect(new Set(submitted.jobIds).size).toBe(200);

    const batch = await waitForBatch(client, submitted.batchId);
    expect(batch.counts).toEqual({ completed: 200, failed: 0, cancelled: 0 });

    let rightE2e = 0;
    let rightInProcess = 0;
    for (const [i, jobId] of submitted.jobIds.entries()) {
      const job = await client.jobs.get.query({ jobId });
      expect(job.state).toBe('completed');
      expect(job.modelVersion).toBe(blip.version);
      const key = resultKey('caption', blip.version, jobId);
      expect(job.resultKey).toBe(key);
      const stored = await readResult<JobResult<'caption'>>(key);
      expect(await client.jobs.result.query({ jobId })).toEqual(stored);
      const want = expected[i % SAMPLES.length]![0]!;
      expect(stored.output.captions).toHaveLength(1);
      expect(stored.output.captions[0]!.text).toBe(want.text);
      expect(stored.output.captions[0]!.score).toBeCloseTo(want.score, 5);
      const scene = SAMPLES[i % SAMPLES.length]!.scene;
      if (exactCaptionMatch(stored.output.captions[0]!.text, scene)) rightE2e++;
      if (exactCaptionMatch(want.text, scene)) rightInProcess++;
    }
    // The share of right scenes is the model's, not the pipeline's.
    expect(rightE2e).toBe(rightInProcess);
    expect(rightE2e).toBeGreaterThan(0);

    // Micro-batching happened: the worker saw batches larger than one.
    const stats = await client.queues.stats.query();
    const caption = stats.queues.find((q) => q.task === 'caption');
    expect(caption?.throughput.averageBatchSize).toBeGreaterThan(1);
  });
});

describe('VQA, filter and embed jobs', () => {
  it('answer like libs/med-model in both modes', async () => {
    const client = stack.client();
    const questions = SAMPLES.map((s, i) => ({ image: i, question: s.questions[0]![0] }));
    const gen = await blip.answer(bytes(), questions, { mode: 'generate' });
    const candidates = ['red', 'green', 'blue', 'yellow', 'purple', 'circle', 'square', 'triangle', 'small', 'large', 'yes', 'no', 'one', 'two'];
    const ranked = await blip.answer(bytes(), questions, { mode: 'rank', candidates });

    const a = await client.vqa.submit.mutate({ items: questions.map((q) => ({ image: uri(q.image), question: q.question })) });
    const b = await client.vqa.submit.mutate({
      items: questions.map((q) => ({ image: uri(q.image), question: q.question })),
      options: { mode: 'rank', candidates },
    });
    await waitForBatch(client, a.batchId);
    await waitForBatch(client, b.batchId);
    for (let i = 0; i < SAMPLES.length; i++) {
      const g = (await client.jobs.result.query({ jobId: a.jobIds[i]! })) as JobResult<'vqa'>;
      expect(g.output.answer).toBe(gen[i]!.answer);
      const r = (await client.jobs.result.query({ jobId: b.jobIds[i]! })) as JobResult<'vqa'>;
      expect(r.output.answer).toBe(ranked[i]![0]!.answer);
      expect(r.output.ranked!.map((x) => x.answer)).toEqual(ranked[i]!.map((x) => x.answer));
      r.output.ranked!.forEach((x, k) => expect(x.score).toBeCloseTo(ranked[i]![k]!.score, 5));
    }
  });

  it('filter image-text pairs by ITM like libs/med-model', async () => {
    const client = stack.client();
    const pairs = SAMPLES.flatMap((s, i) => [
      { image: i, text: s.caption },
      { image: i, text: SAMPLES[(i + 1) % SAMPLES.length]!.caption },
    ]);
    const expected = await blip.match(bytes(), pairs);
    const sub = await client.filter.submit.mutate({
      items: pairs.map((p) => ({ image: uri(p.image), text: p.text })),
      options: { threshold: 0.5 },
    });
    await waitForBatch(client, sub.batchId);
    for (const [k, jobId] of sub.jobIds.entries()) {
      const r = (await client.jobs.result.query({ jobId })) as JobResult<'filter'>;
      expect(r.output.itm).toBeCloseTo(expected[k]!.itm, 5);
      expect(r.output.itc).toBeCloseTo(expected[k]!.itc, 5);
      expect(r.output.keep).toBe(expected[k]!.itm >= 0.5);
    }
  });

  it('embed images and texts like libs/med-model', async () => {
    const client = stack.client();
    const [img] = await blip.embedImages([SAMPLES[3]!.bytes]);
    const [txt] = await blip.embedTexts([SAMPLES[3]!.caption]);
    const sub = await client.embed.submit.mutate({ items: [{ image: uri(3) }, { text: SAMPLES[3]!.caption }] });
    await waitForBatch(client, sub.batchId);
    const ri = (await client.jobs.result.query({ jobId: sub.jobIds[0]! })) as JobResult<'embed'>;
    const rt = (await client.jobs.result.query({ jobId: sub.jobIds[1]! })) as JobResult<'embed'>;
    expect(ri.output.embedding).toHaveLength(img!.length);
    ri.output.embedding.forEach((v, k) => expect(v).toBeCloseTo(img![k]!, 5));
    rt.output.embedding.forEach((v, k) => expect(v).toBeCloseTo(txt![k]!, 5));
  });
});

describe('progress, cancel, idempotency', () => {
  it('streams a job through its states and stages in order', async () => {
    const client = stack.client();
    const { jobIds } = await client.caption.submit.mutate({ items: [{ image: uri(5) }] });
    const events: { type: string; state?: string; progress?: unknown }[] = [];
    await new Promise<void>((resolve, reject) => {
      const sub = client.jobs.watch.subscribe(
        { jobId: jobIds[0]! },
        {
          onData: (e: { data: (typeof events)[number] }) => events.push(e.data),
          onError: reject,
          onComplete: () => resolve(),
        },
      );
      setTimeout(() => {
        sub.unsubscribe();
        reject(new Error(`no terminal event in 60 s: ${JSON.stringify(events)}`));
      }, 60_000).unref();
    });
    const states = events.filter((e) => e.type === 'state').map((e) => e.state);
    expect(states.at(-1)).toBe('completed');
    const order = ['waiting', 'prioritized', 'delayed', 'active', 'completed'];
    const ranks = states.map((s) => order.indexOf(s!));
    expect(ranks.every((r) => r >= 0)).toBe(true);
    expect([...ranks].sort((x, y) => x - y)).toEqual(ranks);
    const stages = events
      .filter((e) => e.type === 'progress')
      .map((e) => (e.progress as { stage?: string } | undefined)?.stage)
      .filter(Boolean);
    const stageOrder = ['fetching', 'batched', 'writing'];
    expect(stages.map((s) => stageOrder.indexOf(s!))).toEqual([...stages.map((s) => stageOrder.indexOf(s!))].sort((x, y) => x - y));
  });

  it('cancels a queued job; a finished job cannot be cancelled', async () => {
    const client = stack.client();
    const backlog = await client.caption.submit.mutate({ items: Array.from({ length: 60 }, (_, i) => ({ image: uri(i) })) });
    const late = await client.caption.submit.mutate({ items: [{ image: uri(0) }], priority: 1000 });
    const res = await client.jobs.cancel.mutate({ jobId: late.jobIds[0]! });
    expect(res.cancelled).toBe(true);
    const info = await client.batches.get.query({ batchId: late.batchId });
    expect(info.counts.cancelled).toBe(1);
    expect(info.pending).toBe(0);
    await waitForBatch(client, backlog.batchId);
    const done = await client.jobs.get.query({ jobId: backlog.jobIds[0]! });
    expect(done.state).toBe('completed');
    await expect(client.jobs.cancel.mutate({ jobId: backlog.jobIds[0]! })).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
  });

  it('returns the same batch and jobs for the same idempotency key, never a second job', async () => {
    const client = stack.client();
    const items = [{ image: uri(1) }, { image: uri(2) }];
    const first = await client.caption.submit.mutate({ items, idempotencyKey: 'nightly-2026-11-28' });
    const again = await client.caption.submit.mutate({ items, idempotencyKey: 'nightly-2026-11-28' });
    expect(again).toEqual(first);
    const b = await waitForBatch(client, first.batchId);
    expect(b.total).toBe(2);
    expect(b.counts.completed).toBe(2);
    // Another tenant's identical key is a different batch.
    const other = await stack.client('globex').caption.submit.mutate({ items, idempotencyKey: 'nightly-2026-11-28' });
    expect(other.batchId).not.toBe(first.batchId);
    const j = await waitForJob(stack.client('globex'), other.jobIds[0]!);
    expect(j.state).toBe('completed');
  });
});
