/**
 * One configuration for the API and the workers, read from environment variables and validated
 * by zod. Every variable has a default that runs the embedded setup (local Redis, files under
 * ./data, the bundled tiny model); the README's configuration table mirrors this file.
 */
import { z } from 'zod';
import { LIMITS } from './jobs/limits.js';
import { JOB_TASKS } from './jobs/tasks.js';
import type { S3ClientOptions } from './storage/s3-storage.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

export const ConfigSchema = z.object({
  /** Redis for queues, batches, rate limits. */
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Key prefix of every queue (a `{hash tag}` for Redis Cluster). */
  QUEUE_PREFIX: z.string().default('blip'),

  /** Where uploads and results live: `s3://bucket[/prefix]` or a directory. */
  STORAGE_URL: z.string().default('file:data'),
  /** S3 endpoint for MinIO / s3rver; unset for AWS. Credentials: the AWS SDK chain (AWS_ACCESS_KEY_ID, ...). */
  S3_ENDPOINT: z.string().optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_FORCE_PATH_STYLE: bool.optional(),

  /** Model directory the workers serve: a path or `s3://bucket/prefix` (downloaded to MODEL_CACHE_DIR, sha256 checked). */
  MODEL_DIR: z.string().default('models/blip-tiny-shapes'),
  MODEL_CACHE_DIR: z.string().default('.cache/models'),

  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: int(3000),
  /** Public base URL of the API (for upload URLs it signs itself); default http://API_HOST:API_PORT. */
  API_PUBLIC_URL: z.string().optional(),
  /** API keys as `tenant:key` pairs separated by commas. Keys are hashed at start-up and never kept in clear. */
  API_KEYS: z.string().default(''),
  /** Key for /admin/queues and /metrics when set. */
  ADMIN_KEY: z.string().optional(),
  /** Key the demo page fills in for visitors (`npm run demo` sets it); unset: visitors paste their own. */
  DEMO_API_KEY: z.string().optional(),
  /** Example images the page offers (empty: none). */
  WEB_EXAMPLES_DIR: z.string().default('datasets/shapes-samples'),
  /** Secret that signs upload URLs on file storage (random per process when unset). */
  UPLOAD_SIGNING_SECRET: z.string().optional(),

  /** Per-tenant limits: jobs not yet finished, and requests per minute. */
  TENANT_MAX_QUEUED_JOBS: int(100_000, 1),
  TENANT_REQUESTS_PER_MINUTE: int(600, 1),
  /** Days completed jobs stay queryable (and idempotency keys hold). */
  JOB_RETENTION_DAYS: int(7, 1),
  JOB_ATTEMPTS: int(5, 1),
  JOB_BACKOFF_MS: int(1000, 1),

  MAX_BATCH_ITEMS: int(LIMITS.maxBatchItems, 1),
  MAX_INLINE_IMAGE_BYTES: int(LIMITS.maxInlineImageBytes, 1),
  MAX_IMAGE_BYTES: int(LIMITS.maxImageBytes, 1),
  MAX_IMAGE_PIXELS: int(LIMITS.maxImagePixels, 1),

  /** Tasks this worker serves. */
  WORKER_TASKS: list(JOB_TASKS.join(',')).pipe(z.array(z.enum(JOB_TASKS)).min(1)),
  /** Jobs a worker holds at once per task (the batcher's supply). */
  WORKER_CONCURRENCY: int(32, 1),
  /** Micro-batch: flush at this many items or after WORKER_MAX_WAIT_MS. */
  WORKER_MAX_BATCH: int(16, 1),
  WORKER_MAX_WAIT_MS: int(20, 0),
  /** BullMQ lock: a job whose worker stops renewing it for this long is retried elsewhere. */
  WORKER_LOCK_DURATION_MS: int(30_000, 1000),
  /** How often each worker looks for stalled jobs. */
  WORKER_STALLED_INTERVAL_MS: int(30_000, 1000),
  /** Serve CapFilt runs (shard, run and schedule queues) in this worker. */
  WORKER_CAPFILT: bool.default(true),
  /** CapFilt models: the captioner and the filter (default: MODEL_DIR for both). */
  CAPFILT_CAPTIONER_DIR: z.string().optional(),
  CAPFILT_FILTER_DIR: z.string().optional(),
  /** Images per model call within a shard. */
  CAPFILT_BATCH: int(32, 1),
  /** onnxruntime intra-op threads (0: onnxruntime's choice). */
  ORT_THREADS: int(0),
  /** Execution providers in order, e.g. `cuda,cpu` on GPU hosts. */
  ORT_EXECUTION_PROVIDERS: list('cpu'),
  /** Port of the worker's /metrics, /health/live and /health/ready (0: none). */
  WORKER_HTTP_PORT: int(9464),
  WORKER_HTTP_HOST: z.string().default('127.0.0.1'),
  /** https:// image fetches: time limit, and whether private addresses are allowed (tests only). */
  FETCH_TIMEOUT_MS: int(10_000, 1),
  FETCH_ALLOW_PRIVATE: bool.default(false),

  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type Config = z.infer<typeof ConfigSchema>;

/** Parses the environment; throws one error listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const r = ConfigSchema.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return r.data;
}

/** The S3 client settings of a configuration (credentials come from the AWS SDK's chain). */
export function s3ClientOptions(config: Config): S3ClientOptions {
  return {
    region: config.S3_REGION,
    ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT } : {}),
    ...(config.S3_FORCE_PATH_STYLE !== undefined ? { forcePathStyle: config.S3_FORCE_PATH_STYLE } : {}),
  };
}

/** `tenant:key,tenant:key` → [{tenant, key}]. */
export function parseApiKeys(spec: string): { tenant: string; key: string }[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':');
      if (i <= 0 || i === pair.length - 1) throw new Error(`API_KEYS entry ${JSON.stringify(pair.replace(/:.*/, ':…'))} is not tenant:key`);
      return { tenant: pair.slice(0, i), key: pair.slice(i + 1) };
    });
}
