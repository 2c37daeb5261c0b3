/**
 * tRPC setup: errors a person can act on, metrics per procedure, and the procedure kinds
 * (public, tenant = authenticated, limited = authenticated and rate-limited writes).
 */
import { TRPCError, initTRPC } from '@trpc/server';
import type { Context } from './context.js';
import { InputError, NoResultError, RetryLaterError, formatIssue, type InputIssue } from './errors.js';
import { ApiMetrics } from './services/metrics.js';

/** Schema issues (zod or any Standard Schema) as `{path: 'items.3.question', message}`. */
function issuesOf(error: TRPCError): InputIssue[] | undefined {
  if (error instanceof InputError) return [error.issue];
  const issues = (error.cause as { issues?: unknown } | undefined)?.issues;
  if (error.code !== 'BAD_REQUEST' || !Array.isArray(issues)) return undefined;
  return (issues as { path?: readonly unknown[]; message: string }[]).map((i) => ({
    path: (i.path ?? []).map((p) => String(typeof p === 'object' && p !== null && 'key' in p ? p.key : p)).join('.'),
    message: i.message,
  }));
}

const t = initTRPC.context<Context>().create({
  // Stack traces stay in the log.
  isDev: false,
  sse: {
    // Pings keep proxies from closing quiet streams; a client that hears nothing for 30 s reconnects (and resumes).
    ping: { enabled: true, intervalMs: 10_000 },
    client: { reconnectAfterInactivityMs: 30_000 },
  },
  errorFormatter({ shape, error }) {
    const issues = issuesOf(error);
    return {
      ...shape,
      message: issues ? issues.map(formatIssue).join('; ') : error.code === 'INTERNAL_SERVER_ERROR' ? 'internal error (logged by the API)' : shape.message,
      data: {
        ...shape.data,
        ...(issues ? { issues } : {}),
        ...(error instanceof RetryLaterError ? { retryAfterS: error.retryAfterS, reason: error.reason } : {}),
        ...(error instanceof NoResultError ? { state: error.state, failure: error.failure } : {}),
      },
    };
  },
});

export const router = t.router;

const measured = t.middleware(async ({ ctx, path, next }) => {
  const started = performance.now();
  const result = await next();
  const code = result.ok ? 'OK' : result.error.code;
  const { metrics } = ctx.services;
  metrics.trpcCalls.inc({ procedure: path, code });
  metrics.trpcDuration.observe({ procedure: path, code }, (performance.now() - started) / 1000);
  if (!result.ok && path.endsWith('.submit')) {
    metrics.submissionsRejected.inc({ task: path.slice(0, path.indexOf('.')), reason: ApiMetrics.rejectionReason(result.error) });
  }
  return result;
});

const authenticated = t.middleware(({ ctx, next }) => {
  if (!ctx.apiKey) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message: 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>" (subscriptions: connectionParams.apiKey)',
    });
  }
  const tenant = ctx.services.auth.tenantOf(ctx.apiKey);
  if (!tenant) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'invalid API key' });
  return next({ ctx: { tenant } });
});

export const publicProcedure = t.procedure.use(measured);
export const tenantProcedure = publicProcedure.use(authenticated);
/** Writes: each call counts against the tenant's TENANT_REQUESTS_PER_MINUTE (reads do not, so polling stays cheap to allow). */
export const limitedProcedure = tenantProcedure.use(async ({ ctx, next }) => {
  await ctx.services.rateLimiter.consume(ctx.tenant);
  return next();
});
