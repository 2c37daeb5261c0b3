import { CapfiltRunRequestSchema } from '@blip-jobs/shared';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { limitedProcedure, router, tenantProcedure } from '../trpc.js';

const RunId = z.string().min(1).max(200);
const ScheduleId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'scheduleId: 1–64 characters of letters, digits, ".", "_" or "-"');
/** Five or six cron fields (seconds optional), as BullMQ's cron parser reads them. */
const Cron = z
  .string()
  .trim()
  .refine((s) => [5, 6].includes(s.split(/\s+/).length), { message: 'pattern must be a cron expression of 5 or 6 fields, e.g. "0 3 * * *"' });
const TimeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'tz must be an IANA time zone such as "Europe/Paris" or "UTC"' },
);

const runNotFound = (runId: string) => new TRPCError({ code: 'NOT_FOUND', message: `capfilt run ${runId} not found` });

export const capfiltRouter = router({
  /** Starts a run over every shard under `input`; shards whose output is up to date are skipped by the workers. */
  run: limitedProcedure.input(CapfiltRunRequestSchema).mutation(async ({ ctx, input }) => {
    const { runId, shards } = await ctx.services.capfilt.start(ctx.tenant, input);
    return { runId, shards: shards.length };
  }),

  /** State, shards done, and the run summary once complete. */
  get: tenantProcedure.input(z.object({ runId: RunId })).query(async ({ ctx, input }) => {
    const run = await ctx.services.capfilt.get(ctx.tenant, input.runId);
    if (!run) throw runNotFound(input.runId);
    return run;
  }),

  /** The tenant's recent runs, newest first. */
  runs: tenantProcedure
    .input(z.object({ limit: z.number().int().min(1).max(100).default(20) }).default({ limit: 20 }))
    .query(({ ctx, input }) => ctx.services.capfilt.list(ctx.tenant, input.limit)),

  schedule: router({
    /** Creates or replaces a refresh schedule: each firing starts a run of `request`. */
    upsert: limitedProcedure
      .input(z.object({ scheduleId: ScheduleId, pattern: Cron, tz: TimeZone.default('UTC'), request: CapfiltRunRequestSchema }).strict())
      .mutation(({ ctx, input }) => ctx.services.capfilt.upsertSchedule(ctx.tenant, input.scheduleId, input.pattern, input.tz, input.request)),
    list: tenantProcedure.query(({ ctx }) => ctx.services.capfilt.listSchedules(ctx.tenant)),
    remove: limitedProcedure.input(z.object({ scheduleId: ScheduleId })).mutation(async ({ ctx, input }) => {
      if (!(await ctx.services.capfilt.removeSchedule(ctx.tenant, input.scheduleId))) {
        throw new TRPCError({ code: 'NOT_FOUND', message: `schedule ${input.scheduleId} not found` });
      }
      return { removed: true };
    }),
  }),
});
