/**
 * When the model's worker thread dies under a running GpuWorker (real Redis, BullMQ, the bundled
 * tiny model): it tells its owner once, stops fetching, turns both health checks to 503, and
 * jobs queued after that stay queued rather than burning their attempts on a dead model.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker as ThreadWorker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '@blip-jobs/shared/testing';
import { Blip } from '@blip-jobs/med-model';
import { BatchStore, CaptionOptionsSchema, loadConfig, queueName, type JobData } from '@blip-jobs/shared';
import { FileStorage } from '@blip-jobs/shared/storage';
import { GpuWorker } from './gpu-worker.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `t-${randomUUID()}`;
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const queue = new Queue(queueName('caption'), { connection: redis, prefix });
const batches = new BatchStore(redis, prefix, 3600);

let dir: string;
let worker: GpuWorker;
let port: number;
let blip: Blip;
const fatal = vi.fn<(err: Error) => void>();


async function status(p: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${p}`)).status;
}

async function submit(batchId: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${batchId}-${i}`);
  await batches.create({ batchId, tenant: 'acme', task: 'caption', jobIds: ids, createdAt: 1 });
  await queue.addBulk(
    ids.map((jobId, index) => ({
      name: 'caption',
      data: {
        tenant: 'acme',
        batchId,
        index,
        submittedAt: 1,
        task: 'caption',
        image: { kind: 'stored', key: 'uploads/acme/a.png' },
        options: CaptionOptionsSchema.parse({}),
      } satisfies JobData,
      opts: { jobId, attempts: 3, backoff: { type: 'fixed', delay: 50 } },
    })),
  );
  return ids;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gpu-worker-fail-'));
  await new FileStorage(dir).put('uploads/acme/a.png', await readFile(path.join(ROOT, 'datasets/shapes-samples/sample-00.png')));
  port = await freePort();
  const open = Blip.open.bind(Blip);
  vi.spyOn(Blip, 'open').mockImplementation(async (...args) => (blip = await open(...args)));
  const config = loadConfig({
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    STORAGE_URL: dir,
    MODEL_DIR: path.join(ROOT, 'models/blip-tiny-shapes'),
    WORKER_TASKS: 'caption',
    WORKER_HTTP_PORT: String(port),
    ORT_THREADS: '1',
    LOG_LEVEL: 'silent',
  });
  worker = new GpuWorker(config, { logger: pino({ level: 'silent' }), onFatal: fatal });
  await worker.start();
}, 60_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await worker?.close();
  await queue.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

describe('GpuWorker when its model dies', () => {
  it('serves before', async () => {
    const [id] = await submit('before', 1);
    await expect.poll(() => queue.getJobState(id!), { timeout: 30_000 }).toMatch(/completed|failed/);
    expect((await queue.getJob(id!))!.failedReason).toBeFalsy();
    expect(await status('/health/live')).toBe(200);
    expect(await status('/health/ready')).toBe(200);
  });

  it('reports once, stops fetching and turns the health checks red', async () => {
    // What a native crash or an out-of-memory kill of the inference thread looks like from outside.
    await (blip as unknown as { worker: ThreadWorker }).worker.terminate();
    await expect.poll(() => fatal.mock.calls.length, { timeout: 5_000 }).toBe(1);
    expect(fatal.mock.calls[0]![0].message).toMatch(/BLIP worker exited/);
    expect(worker.failure).toBe(fatal.mock.calls[0]![0]);
    expect(worker.ready).toBe(false);
    expect(blip.failed).toBeDefined();
    expect(await status('/health/live')).toBe(503);
    expect(await status('/health/ready')).toBe(503);
  });

  it('leaves jobs queued after the failure waiting, attempts untouched', async () => {
    const ids = await submit('after', 3);
    await new Promise((r) => setTimeout(r, 1_500));
    for (const id of ids) {
      expect(await queue.getJobState(id)).toBe('waiting');
      expect((await queue.getJob(id))!.attemptsMade).toBe(0);
    }
  });
});
