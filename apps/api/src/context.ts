/**
 * The one tRPC context: the API's services, the caller's API key (checked by the auth middleware
 * in trpc.ts, so public procedures such as health work without one) and the base URL the caller
 * reached the API at.
 */
import type { BatchStore, Config, WorkerRegistry } from '@blip-jobs/shared';
import type { ObjectStorage } from '@blip-jobs/shared/storage';
import type { CreateExpressContextOptions } from '@trpc/server/adapters/express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { apiKeyFrom, type ApiKeyAuth } from './services/auth.js';
import type { CapfiltRuns } from './services/capfilt-runs.js';
import type { JobEvents } from './services/job-events.js';
import type { JobQueues } from './services/job-queues.js';
import type { JobSubmitter } from './services/job-submitter.js';
import type { ApiMetrics } from './services/metrics.js';
import type { TenantRateLimiter } from './services/rate-limits.js';
import type { ReadinessProbe } from './services/readiness.js';
import type { Uploads } from './services/uploads.js';

export interface ApiServices {
  config: Config;
  log: Logger;
  redis: Redis;
  storage: ObjectStorage;
  queues: JobQueues;
  batches: BatchStore;
  workers: WorkerRegistry;
  submitter: JobSubmitter;
  events: JobEvents;
  uploads: Uploads;
  auth: ApiKeyAuth;
  rateLimiter: TenantRateLimiter;
  metrics: ApiMetrics;
  readiness: ReadinessProbe;
  capfilt: CapfiltRuns;
}

export function createContextFactory(services: ApiServices) {
  const publicUrl = services.config.API_PUBLIC_URL?.replace(/\/+$/, '');
  return ({ req, info }: CreateExpressContextOptions) => ({
    services,
    apiKey: apiKeyFrom(req.headers, info.connectionParams),
    /** For upload URLs the API signs itself: API_PUBLIC_URL, else the scheme and host the caller used. */
    baseUrl: publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`,
  });
}

export type Context = ReturnType<ReturnType<typeof createContextFactory>>;
