import { queueName, resultKey } from '@blip-jobs/shared';
import type { Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

const acme = () => t.client('acme');

describe('jobs', () => {
  it('report state, then the result of a completed job', async () => {
    const { batchId, jobIds } = await acme().caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }] });
    const jobId = jobIds[0]!;
    const waiting = await acme().jobs.get.query({ jobId });
    expect(waiting).toMatchObject({ jobId, batchId, task: 'caption', state: 'waiting', attemptsMade: 0 });
    expect(waiting.submittedAt).toBeGreaterThan(Date.now() - 60_000);
    await expect(acme().jobs.result.query({ jobId })).rejects.toMatchObject({
      data: { code: 'PRECONDITION_FAILED', state: 'waiting' },
      message: expect.stringMatching(/is waiting; its result exists once it is completed/),
    });

    workers.push(standInWorker(t, queueName('caption')));
    await eventually(async () => (await acme().jobs.get.query({ jobId })).state === 'completed');
    const done = await acme().jobs.get.query({ jobId });
    expect(done).toMatchObject({ state: 'completed', modelVersion: MODEL_VERSION, resultKey: resultKey('caption', MODEL_VERSION, jobId) });
    expect(done.finishedAt).toBeGreaterThanOrEqual(done.submittedAt);
    expect(await acme().jobs.result.query({ jobId })).toEqual({
      jobId,
      batchId,
      task: 'caption',
      modelVersion: MODEL_VERSION,
      output: { captions: [{ text: 'a small red circle', score: -0.5 }] },
    });
    expect(await acme().batches.get.query({ batchId })).toMatchObject({ pending: 0, counts: { completed: 1, failed: 0, cancelled: 0 } });
  });

  it('report the worker\'s failure, parsed', async () => {
    const { jobIds } = await acme().filter.submit.mutate({ items: [{ image: 's3://bkt/x.png', text: 'a cat' }] });
    const jobId = jobIds[0]!;
    workers.push(standInWorker(t, queueName('filter'), { fail: { code: 'BAD_IMAGE', message: 'not a PNG: bad signature' } }));
    await eventually(async () => (await acme().jobs.get.query({ jobId })).state === 'failed');
    expect(await acme().jobs.get.query({ jobId })).toMatchObject({ failure: { code: 'BAD_IMAGE', message: 'not a PNG: bad signature' } });
    await expect(acme().jobs.result.query({ jobId })).rejects.toMatchObject({
      data: { code: 'PRECONDITION_FAILED', state: 'failed', failure: { code: 'BAD_IMAGE' } },
      message: expect.stringMatching(/failed \(BAD_IMAGE: not a PNG: bad signature\)/),
    });
  });

  it('cancel a waiting job (counted in its batch), ask a running one to stop, refuse a finished one', async () => {
    const { batchId, jobIds } = await acme().caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }, { image: 's3://bkt/2.png' }], priority: 1000 });
    const queuedBefore = await t.batches.queued('acme');
    expect(await acme().jobs.cancel.mutate({ jobId: jobIds[0]! })).toEqual({ cancelled: true });
    expect(await t.api.services.queues.get('caption').getJob(jobIds[0]!)).toBeUndefined();
    expect(await acme().batches.get.query({ batchId })).toMatchObject({ total: 2, pending: 1, counts: { cancelled: 1 } });
    expect(await t.batches.queued('acme')).toBe(queuedBefore - 1);
    await expect(acme().jobs.get.query({ jobId: jobIds[0]! })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    workers.push(standInWorker(t, queueName('caption'), { gate }));
    await eventually(async () => (await acme().jobs.get.query({ jobId: jobIds[1]! })).state === 'active');
    expect(await acme().jobs.cancel.mutate({ jobId: jobIds[1]! })).toEqual({ cancelled: 'requested' });
    expect(await t.batches.isCancelRequested(jobIds[1]!)).toBe(true);
    release();
    await eventually(async () => (await acme().jobs.get.query({ jobId: jobIds[1]! })).state === 'completed');
    await expect(acme().jobs.cancel.mutate({ jobId: jobIds[1]! })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
      message: `job ${jobIds[1]} is already completed and cannot be cancelled`,
    });
  });

  it('answer NOT_FOUND for unknown ids and for ids without a task prefix', async () => {
    for (const jobId of ['caption-00000000000000000000000000000000', 'nope', 'b-123']) {
      await expect(acme().jobs.get.query({ jobId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' }, message: `job ${jobId} not found` });
    }
    await expect(acme().batches.get.query({ batchId: 'b-nope' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' }, message: 'batch b-nope not found' });
  });
});

describe('queues.stats', () => {
  it('counts jobs per task and state, with throughput and live workers', async () => {
    await acme().embed.submit.mutate({ items: [{ text: 'one' }, { text: 'two' }, { text: 'three' }] });
    await acme().embed.submit.mutate({ items: [{ text: 'urgent' }], priority: 1 });
    await t.api.services.workers.heartbeat({ id: 'w-1', tasks: ['embed', 'vqa'], modelVersion: MODEL_VERSION, host: 'gpu-1', pid: 42, startedAt: 5 }, 30);
    await t.api.services.workers.recordBatch('embed', 6);
    await t.api.services.workers.recordBatch('embed', 2);
    const stats = await acme().queues.stats.query();
    expect(stats.queues.map((q) => q.task)).toEqual(['caption', 'vqa', 'filter', 'embed']);
    const embed = stats.queues.find((q) => q.task === 'embed')!;
    expect(embed.queue).toBe('blip-embed');
    expect(embed.counts).toEqual({ waiting: 3, prioritized: 1, delayed: 0, active: 0, completed: 0, failed: 0 });
    expect(embed.throughput).toMatchObject({ items: 8, batches: 2, averageBatchSize: 4 });
    expect(embed.throughput.itemsPerS).toBeGreaterThan(0);
    expect(embed.workers).toEqual([{ id: 'w-1', modelVersion: MODEL_VERSION, startedAt: 5 }]);
    expect(stats.queues.find((q) => q.task === 'caption')!.workers).toEqual([]);
    expect(stats.liveWorkers).toBe(1);
  });
});
