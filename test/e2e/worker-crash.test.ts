/**
 * A worker killed with SIGKILL in the middle of a 300-job batch: its jobs stall, a new worker
 * picks them up, and every job completes with one correct result object.
 */
import { Blip } from '@blip-jobs/med-model';
import { resultKey, type JobResult } from '@blip-jobs/shared';
import { S3Storage } from '@blip-jobs/shared/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES } from '../support/samples.js';
import { MODEL_DIR, Stack } from '../support/stack.js';
import { waitForBatch } from '../support/wait.js';

let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start({ workers: 1 });
  const images = new S3Storage(stack.storage.client, 'user-images');
  for (const s of SAMPLES) await images.put(s.file, s.bytes);
});

afterAll(async () => {
  await stack?.stop();
});

describe('kill -9 a worker mid-batch', () => {
  it('all 300 jobs complete, each result written once and correct', async () => {
    const client = stack.client();
    const n = 300;
    const { batchId, jobIds } = await client.caption.submit.mutate({
      items: Array.from({ length: n }, (_, i) => ({ image: `s3://user-images/${SAMPLES[i % SAMPLES.length]!.file}` })),
    });

    // Let the first worker get well into the batch, with jobs in flight.
    for (;;) {
      const b = await client.batches.get.query({ batchId });
      if (b.counts.completed >= 40) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const victim = stack.workers[0]!;
    expect(await victim.stop('SIGKILL')).toBe(-1);
    const atKill = await client.batches.get.query({ batchId });
    expect(atKill.pending).toBeGreaterThan(0);

    await stack.startWorker();
    const done = await waitForBatch(client, batchId, 280_000);
    expect(done.counts).toEqual({ completed: n, failed: 0, cancelled: 0 });

    const blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1, transferInputs: false });
    const expected = await blip.caption(SAMPLES.map((s) => s.bytes), { mode: 'beam' });
    const version = blip.version;
    await blip.close();

    // Exactly one result object per job, nothing else under the task's versioned prefix.
    const keys = await stack.storage.list(`results/caption/${version}/`);
    expect(keys).toEqual(jobIds.map((id) => resultKey('caption', version, id)).sort());
    for (const [i, jobId] of jobIds.entries()) {
      const r = JSON.parse((await stack.storage.get(resultKey('caption', version, jobId)))!.body.toString()) as JobResult<'caption'>;
      expect(r.jobId).toBe(jobId);
      expect(r.output.captions[0]!.text).toBe(expected[i % SAMPLES.length]![0]!.text);
    }
  });
});
