/**
 * The task queues as the API sees them: one BullMQ Queue per task, all on one shared connection
 * (a Queue only issues plain commands; the blocking readers live in job-events.ts).
 */
import { JOB_TASKS, parseFailure, queueName, type JobData, type JobFailure, type JobReturn, type JobTask } from '@blip-jobs/shared';
import { Queue, type Job, type JobProgress, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';

/** The states `queues.stats` and the queue-depth metric count (waiting + prioritized = backlog). */
export const COUNTED_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
export type CountedState = (typeof COUNTED_STATES)[number];

export type BlipJob = Job<JobData, JobReturn>;
export type BlipQueue = Queue<JobData, JobReturn>;

/** BullMQ's states, plus 'removed' for a job that is gone (cancelled, or cleaned after retention). */
export type JobStateName = JobState | 'unknown' | 'removed';

/** What a job's state says to a client; the same shape in jobs.get and jobs.watch. */
export interface JobView {
  state: JobStateName;
  progress: JobProgress;
  /** Failed jobs: the worker's reason. */
  failure?: JobFailure;
  /** Completed jobs: where the result is and which model made it. */
  resultKey?: string;
  modelVersion?: string;
}

export function viewJob(job: BlipJob, state: JobStateName): JobView {
  const view: JobView = { state, progress: job.progress };
  if (state === 'failed') view.failure = parseFailure(job.failedReason) ?? { code: 'INTERNAL', message: 'failed without a reason' };
  if (state === 'completed' && job.returnvalue) {
    view.resultKey = job.returnvalue.resultKey;
    view.modelVersion = job.returnvalue.modelVersion;
  }
  return view;
}

export const isFinalState = (s: JobStateName): boolean => s === 'completed' || s === 'failed' || s === 'removed';

export interface JobQueuesOptions {
  connection: Redis;
  /** Key prefix of every queue (QUEUE_PREFIX). */
  prefix: string;
}

export class JobQueues {
  private readonly queues: Readonly<Record<JobTask, BlipQueue>>;

  constructor(opts: JobQueuesOptions) {
    this.queues = Object.fromEntries(
      JOB_TASKS.map((task) => [task, new Queue<JobData, JobReturn>(queueName(task), { connection: opts.connection, prefix: opts.prefix })]),
    ) as Record<JobTask, BlipQueue>;
  }

  get(task: JobTask): BlipQueue {
    return this.queues[task];
  }

  all(): BlipQueue[] {
    return JOB_TASKS.map((task) => this.queues[task]);
  }

  /** A job id starts with its task (`caption-…`): the queue to look in. */
  static taskOf(jobId: string): JobTask | null {
    const prefix = jobId.slice(0, jobId.indexOf('-'));
    return (JOB_TASKS as readonly string[]).includes(prefix) ? (prefix as JobTask) : null;
  }

  /** The job with this id in its task's queue, or null. */
  async find(jobId: string): Promise<BlipJob | null> {
    const task = JobQueues.taskOf(jobId);
    if (!task) return null;
    return (await this.get(task).getJob(jobId)) ?? null;
  }

  async counts(task: JobTask): Promise<Record<CountedState, number>> {
    const c = await this.get(task).getJobCounts(...COUNTED_STATES);
    return Object.fromEntries(COUNTED_STATES.map((s) => [s, c[s] ?? 0])) as Record<CountedState, number>;
  }

  /** Closes the queues; the shared connection stays open (its owner closes it). */
  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
