import { JOB_TASKS, queueName } from '@blip-jobs/shared';
import { router, tenantProcedure } from '../trpc.js';

export const queuesRouter = router({
  /**
   * Per task: job counts, recent throughput (items/s, average micro-batch size) and the live
   * workers serving it. Host names and pids stay internal (admin dashboard, logs).
   */
  stats: tenantProcedure.query(async ({ ctx }) => {
    const { queues, workers } = ctx.services;
    const live = await workers.live();
    return {
      queues: await Promise.all(
        JOB_TASKS.map(async (task) => ({
          task,
          queue: queueName(task),
          counts: await queues.counts(task),
          throughput: await workers.throughput(task),
          workers: live.filter((w) => w.tasks.includes(task)).map(({ id, modelVersion, startedAt }) => ({ id, modelVersion, startedAt })),
        })),
      ),
      liveWorkers: live.length,
    };
  }),
});
