/**
 * The API as an object: services wired from the configuration, the express app (tRPC at /trpc,
 * uploads, probes, metrics, dashboard), listen and close. main.ts runs it; tests start it
 * in-process on port 0.
 */
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { BatchStore, LIMITS, WorkerRegistry, s3ClientOptions, type Config } from '@blip-jobs/shared';
import { openStorage, type ObjectStorage } from '@blip-jobs/shared/storage';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { createContextFactory, type ApiServices } from './context.js';
import { RetryLaterError } from './errors.js';
import { adminGuard, metricsHandler, queueDashboard } from './http/admin.js';
import { uploadPutHandler } from './http/uploads.js';
import { webPage } from './http/web-page.js';
import { appRouter } from './router.js';
import { ApiKeyAuth } from './services/auth.js';
import { CapfiltRuns } from './services/capfilt-runs.js';
import { ImageResolver } from './services/image-resolver.js';
import { JobEvents } from './services/job-events.js';
import { JobQueues } from './services/job-queues.js';
import { JobSubmitter } from './services/job-submitter.js';
import { ApiMetrics, routeLabel } from './services/metrics.js';
import { TenantRateLimiter } from './services/rate-limits.js';
import { ReadinessProbe } from './services/readiness.js';
import { Uploads } from './services/uploads.js';

/** Largest tRPC request body: a submit of 1000 references fits easily; many inline images do not (use uploads). */
const MAX_TRPC_BODY_BYTES = 32 * 1024 * 1024;
/** On close, open requests (SSE streams among them) get this long before their connections are cut. */
const CLOSE_GRACE_MS = 2000;

export interface ApiDeps {
  /** Redis for queues, batches and limits; default: a connection to REDIS_URL, closed with the API. */
  redis?: Redis;
  /** Default: STORAGE_URL opened with the S3_* settings. */
  storage?: ObjectStorage;
  log?: Logger;
}

export interface Api {
  readonly app: Express;
  readonly services: ApiServices;
  /** Starts listening (port 0: any free port); resolves with the base URL, e.g. http://127.0.0.1:3000. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops listening, cuts open streams after a grace period, closes queues and owned connections; once. */
  close(): Promise<void>;
}

/** Counts and times every HTTP request, and logs it at debug level. */
function observeHttp(metrics: ApiMetrics, log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    // Read now: mounted routers strip their prefix from req.path.
    const route = routeLabel(req.path);
    res.once('close', () => {
      const labels = { method: req.method, route, status: String(res.statusCode) };
      const seconds = (performance.now() - started) / 1000;
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      log.debug({ ...labels, ms: Math.round(seconds * 1000) }, 'http request');
    });
    next();
  };
}

export async function createApi(config: Config, deps: ApiDeps = {}): Promise<Api> {
  const log = deps.log ?? pino({ level: config.LOG_LEVEL, name: 'blip-api' });
  // Configuration faults surface before any connection is opened.
  const auth = new ApiKeyAuth(config.API_KEYS);
  if (auth.size === 0) log.warn('API_KEYS is empty: every call that needs an API key will be refused');
  const s3 = s3ClientOptions(config);
  const storage = deps.storage ?? openStorage(config.STORAGE_URL, s3);
  const redis = deps.redis ?? new Redis(config.REDIS_URL).on('error', (err) => log.error({ err }, 'redis connection error'));
  const prefix = config.QUEUE_PREFIX;
  const retentionS = config.JOB_RETENTION_DAYS * 86_400;

  const queues = new JobQueues({ connection: redis, prefix });
  let events: JobEvents;
  try {
    events = await JobEvents.open({ queues, redis, redisUrl: config.REDIS_URL, prefix, log });
  } catch (err) {
    await queues.close();
    if (!deps.redis) redis.disconnect();
    throw err;
  }
  const batches = new BatchStore(redis, prefix, retentionS);
  const workers = new WorkerRegistry(redis, prefix);
  const metrics = new ApiMetrics(queues);
  const services: ApiServices = {
    config,
    log,
    redis,
    storage,
    queues,
    batches,
    workers,
    events,
    auth,
    metrics,
    submitter: new JobSubmitter({
      queues,
      batches,
      workers,
      images: new ImageResolver({ storage, maxInlineBytes: config.MAX_INLINE_IMAGE_BYTES, maxImageBytes: config.MAX_IMAGE_BYTES }),
      maxBatchItems: config.MAX_BATCH_ITEMS,
      maxQueuedJobs: config.TENANT_MAX_QUEUED_JOBS,
      attempts: config.JOB_ATTEMPTS,
      backoffMs: config.JOB_BACKOFF_MS,
      retentionS,
    }),
    uploads: new Uploads({
      storage,
      ...(config.UPLOAD_SIGNING_SECRET ? { signingSecret: config.UPLOAD_SIGNING_SECRET } : {}),
      ttlS: LIMITS.uploadUrlTtlS,
      maxBytes: config.MAX_IMAGE_BYTES,
    }),
    rateLimiter: new TenantRateLimiter({ redis, prefix, perMinute: config.TENANT_REQUESTS_PER_MINUTE }),
    readiness: new ReadinessProbe({ redis, storage, log }),
    capfilt: new CapfiltRuns({ connection: redis, prefix, storage, s3 }),
  };

  const app = express();
  app.disable('x-powered-by');
  app.use(observeHttp(metrics, log));
  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', async (_req, res) => {
    const r = await services.readiness.check();
    res.status(r.ready ? 200 : 503).json(r);
  });
  app.use(
    '/trpc',
    createExpressMiddleware({
      router: appRouter,
      createContext: createContextFactory(services),
      maxBodySize: MAX_TRPC_BODY_BYTES,
      responseMeta({ errors }) {
        // Every TOO_MANY_REQUESTS says when to come back, as a header as well as in error.data.
        const retryAfterS = Math.max(0, ...errors.map((e) => (e instanceof RetryLaterError ? e.retryAfterS : 0)));
        return retryAfterS > 0 ? { headers: { 'Retry-After': String(retryAfterS) } } : {};
      },
      onError({ error, path }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') log.error({ err: error.cause ?? error, path }, 'tRPC call failed');
        else log.debug({ code: error.code, path, message: error.message }, 'tRPC call refused');
      },
    }),
  );
  app.put('/uploads/:token', uploadPutHandler(services.uploads, storage));
  app.use(
    await webPage({
      demoKey: config.DEMO_API_KEY ?? null,
      examplesDir: config.WEB_EXAMPLES_DIR ? path.resolve(config.WEB_EXAMPLES_DIR) : null,
      maxUploadBytes: config.MAX_IMAGE_BYTES,
      maxInlineBytes: config.MAX_INLINE_IMAGE_BYTES,
      workers,
    }),
  );
  if (config.ADMIN_KEY) {
    const guard = adminGuard(config.ADMIN_KEY);
    app.get('/metrics', guard, metricsHandler(metrics));
    app.use('/admin/queues', guard, queueDashboard(queues, '/admin/queues'));
  } else {
    // A dashboard that can retry and delete any tenant's jobs is never served without a key.
    app.get('/metrics', metricsHandler(metrics));
    log.info('ADMIN_KEY is not set: /metrics is open and /admin/queues is off');
  }
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    log.error({ err, method: req.method, path: req.path }, 'request failed');
    if (!res.headersSent) res.status(500).json({ error: 'internal error (logged by the API)' });
    else res.destroy();
  };
  app.use(onError);

  let server: Server | null = null;
  let closing: Promise<void> | null = null;
  const shutdown = async (): Promise<void> => {
    if (server) {
      const s = server;
      server = null;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeIdleConnections();
      // Cut rather than end open streams: their clients reconnect and resume elsewhere.
      const cut = setTimeout(() => s.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(cut);
    }
    await events.close();
    await queues.close();
    await services.capfilt.close();
    if (!deps.redis) await redis.quit();
  };
  return {
    app,
    services,
    async listen(port = config.API_PORT, host = config.API_HOST) {
      const s = createServer(app);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => resolve());
      });
      server = s;
      const addr = s.address() as AddressInfo;
      const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      log.info({ url, storage: storage.url, prefix }, 'API listening');
      return url;
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
