import type { BatchInfo } from '@blip-jobs/shared';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import type { ApiServices } from '../context.js';
import { notFound } from '../errors.js';
import { router, tenantProcedure } from '../trpc.js';

const BatchId = z.string().min(1, 'batchId must not be empty').max(200);

/** How often batches.watch reads the batch record. */
const WATCH_POLL_MS = 200;

async function ownBatch(ctx: { services: ApiServices; tenant: string }, batchId: string): Promise<BatchInfo> {
  const info = await ctx.services.batches.get(batchId);
  if (!info || info.tenant !== ctx.tenant) throw notFound('batch', batchId);
  return info;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const batchesRouter = router({
  /** Totals, counts per final state, and jobs still pending. */
  get: tenantProcedure.input(z.object({ batchId: BatchId })).query(({ ctx, input }) => ownBatch(ctx, input.batchId)),

  /** The batch's job ids in submit order, a page at a time (`nextCursor` null after the last). */
  jobs: tenantProcedure
    .input(z.object({ batchId: BatchId, cursor: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(1000).default(100) }))
    .query(async ({ ctx, input }) => {
      const info = await ownBatch(ctx, input.batchId);
      const jobIds = await ctx.services.batches.jobIds(input.batchId, input.cursor, input.cursor + input.limit - 1);
      const next = input.cursor + jobIds.length;
      return { jobIds, nextCursor: next < info.total ? next : null };
    }),

  /**
   * The batch's progress whenever jobs finish, until none is pending. Event ids count the finished
   * jobs, so a reconnecting client gets the next change, not the one it has.
   */
  watch: tenantProcedure
    .input(z.object({ batchId: BatchId, lastEventId: z.string().regex(/^\d+$/, 'lastEventId is a count of finished jobs').optional() }))
    .subscription(async function* ({ ctx, input, signal }) {
      let info: BatchInfo | null = await ownBatch(ctx, input.batchId);
      let seen = input.lastEventId === undefined ? -1 : Number(input.lastEventId);
      while (info && !signal?.aborted) {
        const finished = info.total - info.pending;
        if (finished !== seen) {
          seen = finished;
          yield tracked(String(finished), info);
        }
        if (info.pending <= 0) return;
        await pause(WATCH_POLL_MS, signal);
        info = await ctx.services.batches.get(input.batchId);
      }
    }),
});
