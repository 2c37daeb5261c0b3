/**
 * A whole blip-jobs deployment for end-to-end tests: the real Redis (its own key prefix per
 * stack), an s3rver over HTTP holding uploads and results, the API process and N worker
 * processes serving the bundled tiny model.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createBlipClient } from '@blip-jobs/api/client';
import { S3Storage, createS3Client } from '@blip-jobs/shared/storage';
import { startS3rver, type S3rverProcess } from '@blip-jobs/shared/testing';
import { Redis } from 'ioredis';
import { AppProcess, REPO_ROOT, freePort } from './processes.js';

export const TENANTS = { acme: 'key-acme-0123456789', globex: 'key-globex-0123456789' } as const;
export const RESULTS_BUCKET = 'blip-e2e';
export const MODEL_DIR = path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');

export interface StackOptions {
  /** Extra environment for API and workers. */
  env?: Record<string, string>;
  workers?: number;
}

export class Stack {
  private workerCount = 0;
  readonly workers: AppProcess[] = [];

  private constructor(
    readonly s3rver: S3rverProcess,
    readonly redis: Redis,
    readonly env: Record<string, string>,
    readonly api: AppProcess,
    /** The platform's storage (uploads, results), as the apps see it. */
    readonly storage: S3Storage,
  ) {}

  static async start(opts: StackOptions = {}): Promise<Stack> {
    const s3rver = await startS3rver([RESULTS_BUCKET, 'user-images']);
    const prefix = `e2e-${randomUUID().slice(0, 8)}`;
    const apiPort = await freePort();
    const env: Record<string, string> = {
      ...s3rver.env,
      REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: prefix,
      STORAGE_URL: `s3://${RESULTS_BUCKET}`,
      MODEL_DIR,
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      API_KEYS: Object.entries(TENANTS)
        .map(([t, k]) => `${t}:${k}`)
        .join(','),
      ADMIN_KEY: 'admin-e2e',
      ORT_THREADS: '2',
      WORKER_MAX_BATCH: '8',
      WORKER_MAX_WAIT_MS: '20',
      WORKER_CONCURRENCY: '16',
      // Short locks so a killed worker's jobs are picked up again within seconds.
      WORKER_LOCK_DURATION_MS: '4000',
      WORKER_STALLED_INTERVAL_MS: '2000',
      JOB_BACKOFF_MS: '200',
      LOG_LEVEL: 'warn',
      ...opts.env,
    };
    const redis = new Redis(env['REDIS_URL']!);
    const api = await AppProcess.start('api', 'apps/api/src/main.ts', env, `http://127.0.0.1:${apiPort}`);
    const storage = new S3Storage(createS3Client(s3rver.s3), RESULTS_BUCKET);
    const stack = new Stack(s3rver, redis, env, api, storage);
    for (let i = 0; i < (opts.workers ?? 1); i++) await stack.startWorker();
    return stack;
  }

  get apiUrl(): string {
    return this.api.httpUrl;
  }

  get prefix(): string {
    return this.env['QUEUE_PREFIX']!;
  }

  client(tenant: keyof typeof TENANTS = 'acme') {
    return createBlipClient({ url: this.apiUrl, apiKey: TENANTS[tenant] });
  }

  async startWorker(env: Record<string, string> = {}): Promise<AppProcess> {
    const port = await freePort();
    const n = this.workerCount++;
    const w = await AppProcess.start(
      `worker-${n}`,
      'apps/gpu-worker/src/main.ts',
      { ...this.env, WORKER_HTTP_PORT: String(port), ...env },
      `http://127.0.0.1:${port}`,
      120_000,
    );
    this.workers.push(w);
    return w;
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop('SIGTERM')));
    await this.api.stop('SIGTERM');
    const keys = await this.redis.keys(`${this.prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await this.redis.del(...keys.slice(i, i + 500));
    this.redis.disconnect();
    await this.s3rver.stop();
  }
}
