import { parseFailure, type JobResult } from '@blip-jobs/shared';
import { TRPCError, tracked } from '@trpc/server';
import { z } from 'zod';
import type { ApiServices } from '../context.js';
import { NoResultError, notFound } from '../errors.js';
import { viewJob, type BlipJob } from '../services/job-queues.js';
import { limitedProcedure, router, tenantProcedure } from '../trpc.js';

const JobId = z.string().min(1, 'jobId must not be empty').max(200);

/** The job if it exists and is the tenant's; otherwise NOT_FOUND, the same for both cases. */
async function ownJob(ctx: { services: ApiServices; tenant: string }, jobId: string): Promise<BlipJob> {
  const job = await ctx.services.queues.find(jobId);
  if (!job || job.data.tenant !== ctx.tenant) throw notFound('job', jobId);
  return job;
}

export const jobsRouter = router({
  get: tenantProcedure.input(z.object({ jobId: JobId })).query(async ({ ctx, input }) => {
    const job = await ownJob(ctx, input.jobId);
    const state = await job.getState();
    if (state === 'unknown') throw notFound('job', input.jobId);
    return {
      jobId: input.jobId,
      batchId: job.data.batchId,
      task: job.data.task,
      ...viewJob(job, state),
      attemptsMade: job.attemptsMade,
      submittedAt: job.data.submittedAt,
      finishedAt: job.finishedOn,
    };
  }),

  /** The stored JobResult of a completed job. */
  result: tenantProcedure.input(z.object({ jobId: JobId })).query(async ({ ctx, input }): Promise<JobResult> => {
    const job = await ownJob(ctx, input.jobId);
    const state = await job.getState();
    if (state !== 'completed') throw new NoResultError(input.jobId, state, state === 'failed' ? parseFailure(job.failedReason) : null);
    const key = job.returnvalue.resultKey;
    const stored = await ctx.services.storage.get(key);
    if (!stored) throw new TRPCError({ code: 'NOT_FOUND', message: `the result of job ${input.jobId} is no longer in storage (${key})` });
    return JSON.parse(stored.body.toString('utf8')) as JobResult;
  }),

  /**
   * Queued jobs are removed (`cancelled: true`); a running job is asked to stop and fails with
   * CANCELLED when its worker next checks (`cancelled: 'requested'`); finished jobs: CONFLICT.
   */
  cancel: limitedProcedure.input(z.object({ jobId: JobId })).mutation(async ({ ctx, input }) => {
    const { batches } = ctx.services;
    const job = await ownJob(ctx, input.jobId);
    let state = await job.getState();
    if (state !== 'active' && state !== 'completed' && state !== 'failed') {
      try {
        await job.remove();
        await batches.markFinished(job.data.batchId, ctx.tenant, input.jobId, 'cancelled');
        return { cancelled: true as const };
      } catch (err) {
        // A worker took it between the state read and the removal.
        state = await job.getState();
        if (state !== 'active') throw err;
      }
    }
    if (state === 'active') {
      await batches.requestCancel(input.jobId);
      return { cancelled: 'requested' as const };
    }
    throw new TRPCError({ code: 'CONFLICT', message: `job ${input.jobId} is already ${state} and cannot be cancelled` });
  }),

  /**
   * The job's state now, then each state change and progress report, in order, until it is
   * completed, failed or removed. Tracked: a reconnecting client resumes after the last event it got.
   */
  watch: tenantProcedure
    .input(
      z.object({
        jobId: JobId,
        lastEventId: z.string().regex(/^\d+-\d+$/, 'lastEventId is an event id from this stream, such as 1732790000000-0').optional(),
      }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const job = await ownJob(ctx, input.jobId);
      for await (const { id, event } of ctx.services.events.watch(job.data.task, input.jobId, { lastEventId: input.lastEventId, signal })) {
        yield tracked(id, event);
      }
    }),
});
