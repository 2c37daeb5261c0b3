/**
 * For this project's tests: an API started in-process on port 0 against the real Redis (a key
 * prefix of its own, deleted afterwards) and file storage in a temp dir, clients per tenant, and
 * a stand-in worker that completes or fails jobs the way apps/gpu-worker does.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BatchStore, formatFailure, loadConfig, resultKey, type Config, type JobData, type JobFailure, type JobResult, type JobReturn } from '@blip-jobs/shared';
import { FileStorage } from '@blip-jobs/shared/storage';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createApi, type Api } from './app.js';
import { createBlipClient, type BlipClient } from './client.js';

export const TENANTS = { acme: 'key-acme-0123456789', globex: 'key-globex-0123456789', initech: 'key-initech-0123456789' } as const;
export type Tenant = keyof typeof TENANTS;
export const ADMIN_KEY = 'admin-key-0123';
export const MODEL_VERSION = 'test-model@000000000000';

/** The first bytes of a PNG: all the API looks at. */
export const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('IHDR fake image body')]);

export interface TestApi {
  api: Api;
  url: string;
  config: Config;
  prefix: string;
  storage: FileStorage;
  redis: Redis;
  batches: BatchStore;
  client(tenant?: Tenant): BlipClient;
  /** POSTs one tRPC mutation without the client, to see the HTTP response itself. */
  post(procedure: string, input: unknown, tenant?: Tenant): Promise<Response>;
  stop(): Promise<void>;
}

export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const prefix = `api-test-${randomUUID().slice(0, 8)}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'blip-api-'));
  const config = loadConfig({
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    STORAGE_URL: dir,
    API_KEYS: Object.entries(TENANTS)
      .map(([t, k]) => `${t}:${k}`)
      .join(','),
    ADMIN_KEY,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const api = await createApi(config);
  const url = await api.listen(0, '127.0.0.1');
  const redis = new Redis(config.REDIS_URL);
  return {
    api,
    url,
    config,
    prefix,
    storage: new FileStorage(dir),
    redis,
    batches: new BatchStore(redis, prefix, 3600),
    client: (tenant = 'acme') => createBlipClient({ url, apiKey: TENANTS[tenant] }),
    post: (procedure, input, tenant = 'acme') =>
      fetch(`${url}/trpc/${procedure}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TENANTS[tenant]}`, 'content-type': 'application/json' },
        body: JSON.stringify(input),
      }),
    async stop() {
      await api.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface StandInOptions {
  /** Fail every job with this reason instead of completing it. */
  fail?: JobFailure;
  /** Held between the 'batched' and 'writing' stages until this settles. */
  gate?: Promise<void>;
}

/**
 * A BullMQ worker for one queue doing what apps/gpu-worker does around the model: progress
 * stages, a result object at resultKey, the JobReturn, the batch bookkeeping, `CODE: message`.
 */
export function standInWorker(t: TestApi, queue: string, opts: StandInOptions = {}): Worker<JobData, JobReturn> {
  const worker = new Worker<JobData, JobReturn>(
    queue,
    async (job) => {
      const { task, batchId, tenant } = job.data;
      const jobId = String(job.id);
      await job.updateProgress({ stage: 'fetching' });
      await job.updateProgress({ stage: 'batched' });
      await opts.gate;
      if (opts.fail) {
        await t.batches.markFinished(batchId, tenant, jobId, 'failed');
        throw new UnrecoverableError(formatFailure(opts.fail));
      }
      await job.updateProgress({ stage: 'writing' });
      const key = resultKey(task, MODEL_VERSION, jobId);
      const result: JobResult = { jobId: jobId, batchId, task, modelVersion: MODEL_VERSION, output: { captions: [{ text: 'a small red circle', score: -0.5 }] } };
      await t.storage.put(key, JSON.stringify(result));
      await t.batches.markFinished(batchId, tenant, jobId, 'completed');
      return { resultKey: key, modelVersion: MODEL_VERSION, batchSize: 1, latencyMs: 1 };
    },
    { connection: { url: t.config.REDIS_URL }, prefix: t.prefix, concurrency: 4 },
  );
  worker.on('error', () => undefined);
  return worker;
}

/** Resolves once `check` returns true (polled), or throws after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
