/** The job tasks, each with its own BullMQ queue. */
export const JOB_TASKS = ['caption', 'vqa', 'filter', 'embed'] as const;
export type JobTask = (typeof JOB_TASKS)[number];

/** Queue name of a task (the Redis key prefix is configured separately: `QUEUE_PREFIX`). */
export function queueName(task: JobTask): string {
  return `blip-${task}`;
}

/**
 * Object key of a job's result. It carries the model version, so results of two model versions
 * never overwrite each other, and it depends only on the job, so a retried job rewrites the same
 * object with the same bytes.
 */
export function resultKey(task: JobTask, modelVersion: string, jobId: string): string {
  return `results/${task}/${modelVersion}/${jobId}.json`;
}
