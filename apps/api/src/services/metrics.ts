/**
 * Prometheus metrics of one API process, in its own registry (tests run several APIs in one
 * process). Queue depth is read from Redis when Prometheus scrapes, so it is never stale and costs
 * nothing between scrapes; waiting + prioritized is the backlog to scale workers on.
 */
import { JOB_TASKS, queueName } from '@blip-jobs/shared';
import type { TRPCError } from '@trpc/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RetryLaterError } from '../errors.js';
import { COUNTED_STATES, type JobQueues } from './job-queues.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Plain HTTP routes, folded to a few labels (tokens and job ids must not become label values). */
const ROUTES = ['/trpc', '/uploads', '/metrics', '/admin/queues', '/health'];
export const routeLabel = (path: string): string => ROUTES.find((r) => path === r || path.startsWith(`${r}/`)) ?? 'other';

export class ApiMetrics {
  readonly registry = new Registry();

  readonly trpcCalls = new Counter({
    name: 'blip_api_trpc_calls_total',
    help: 'tRPC calls by procedure and result code (OK or the tRPC error code)',
    labelNames: ['procedure', 'code'] as const,
    registers: [this.registry],
  });

  readonly trpcDuration = new Histogram({
    name: 'blip_api_trpc_call_duration_seconds',
    help: 'tRPC call latency (subscriptions: until the stream is set up)',
    labelNames: ['procedure', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: 'blip_api_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'blip_api_http_request_duration_seconds',
    help: 'HTTP request latency by route (SSE streams: their whole life)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly jobsSubmitted = new Counter({
    name: 'blip_api_jobs_submitted_total',
    help: 'Jobs enqueued by task (idempotent repeats not counted)',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly submissionsRejected = new Counter({
    name: 'blip_api_submissions_rejected_total',
    help: 'Submit calls refused, by task and reason (invalid, too_large, not_found, quota, rate, unauthorized, conflict, error)',
    labelNames: ['task', 'reason'] as const,
    registers: [this.registry],
  });

  constructor(queues: JobQueues) {
    collectDefaultMetrics({ register: this.registry, prefix: 'blip_api_' });
    const depth = new Gauge({
      name: 'blip_queue_jobs',
      help: 'Jobs per queue and state, read at scrape time (backlog = waiting + prioritized)',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        const all = await Promise.all(JOB_TASKS.map(async (task) => [queueName(task), await queues.counts(task)] as const));
        for (const [queue, counts] of all) for (const state of COUNTED_STATES) depth.set({ queue, state }, counts[state]);
      },
    });
    for (const task of JOB_TASKS) this.jobsSubmitted.inc({ task }, 0);
  }

  /** Why a submit call was refused, as a label. */
  static rejectionReason(error: TRPCError): string {
    if (error instanceof RetryLaterError) return error.reason;
    const byCode: Partial<Record<TRPCError['code'], string>> = {
      BAD_REQUEST: 'invalid',
      PAYLOAD_TOO_LARGE: 'too_large',
      NOT_FOUND: 'not_found',
      UNAUTHORIZED: 'unauthorized',
      CONFLICT: 'conflict',
    };
    return byCode[error.code] ?? 'error';
  }
}
