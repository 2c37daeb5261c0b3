/**
 * The BullMQ processor of one task's queue: one job from its data to its result in storage.
 *
 *   parse → fetching (read + decode the image) → batched (wait for the micro-batch)
 *         → writing (result JSON to storage) → batch bookkeeping → JobReturn
 *
 * Permanent failures (a bad image, bad input, a refused URL, a cancel) throw BullMQ's
 * UnrecoverableError with `{code}: {message}` as the reason, after the job is counted finished in
 * its batch; anything else throws a plain Error so BullMQ retries with the job's backoff, and the
 * worker's 'failed' listener (`onFailed`) counts the job once its last attempt has failed.
 */
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  JobDataSchema,
  formatFailure,
  resultKey,
  type BatchStore,
  type FinalState,
  type JobData,
  type JobResult,
  type JobReturn,
  type JobTask,
} from '@blip-jobs/shared';
import { StorageError, type ObjectStorage } from '@blip-jobs/shared/storage';
import type { ImageSource } from './image-source.js';
import { JobError } from './job-error.js';
import type { WorkerMetrics } from './metrics.js';
import type { MicroBatcher } from './micro-batcher.js';
import type { PreparedJob, TaskOutput } from './task-runner.js';

/** What the micro-batcher hands back to each job. */
export interface BatchedOutput {
  output: TaskOutput;
  /** Jobs in the micro-batch this one ran in. */
  batchSize: number;
}

/** The stages a job reports through `job.progress`, in order (the API streams them). */
export type JobStage = 'fetching' | 'batched' | 'writing';

export interface JobProcessorOptions {
  task: JobTask;
  modelVersion: string;
  images: ImageSource;
  /** Decodes a job's image before it joins a batch (`TaskRunner.prepare`). */
  prepare: (data: JobData, image: Uint8Array | undefined) => Promise<PreparedJob>;
  batcher: MicroBatcher<PreparedJob, BatchedOutput>;
  /** Where results are written. */
  storage: ObjectStorage;
  batches: BatchStore;
  metrics: WorkerMetrics;
  logger: Logger;
  /**
   * True once the model is gone (GpuWorker.modelFailed): a job this worker holds then goes back
   * to waiting with no attempt spent, for a healthy worker to take. Default: never.
   */
  halted?: () => boolean;
}

/** batchId and tenant of a job whose data may not parse (to count it finished anyway). */
function batchOf(data: unknown): { batchId: string; tenant: string } | null {
  const d = data as { batchId?: unknown; tenant?: unknown } | null;
  return typeof d?.batchId === 'string' && typeof d.tenant === 'string' ? { batchId: d.batchId, tenant: d.tenant } : null;
}

function isLastAttempt(job: Job): boolean {
  return job.attemptsMade >= (job.opts.attempts ?? 1);
}

export class JobProcessor {
  /** Jobs taken from the queue that have not reached the batcher yet (fetching, decoding). */
  private preparing = 0;

  constructor(private readonly opts: JobProcessorOptions) {}

  /** For the batcher's `incoming`: jobs that may still join the next batch. */
  get incoming(): number {
    return this.preparing;
  }

  /** The BullMQ processor function. */
  readonly process = async (job: Job, token?: string): Promise<JobReturn> => {
    const started = job.processedOn ?? Date.now();
    try {
      if (this.opts.halted?.()) throw new WaitingError();
      const jobId = this.jobId(job);
      const data = this.parse(job.data);
      let prepared: PreparedJob;
      this.preparing++;
      try {
        await this.stage(job, 'fetching');
        const bytes = data.image ? await this.opts.images.read(data.image) : undefined;
        prepared = await this.opts.prepare(data, bytes);
        await this.checkCancel(jobId);
        await this.stage(job, 'batched');
      } finally {
        this.preparing--;
      }
      const { output, batchSize } = await this.opts.batcher.submit(prepared);

      await this.checkCancel(jobId);
      await this.stage(job, 'writing');
      const key = resultKey(this.opts.task, this.opts.modelVersion, jobId);
      await this.opts.storage.put(key, this.resultJson(jobId, data, output), { contentType: 'application/json' });
      await this.opts.batches.markFinished(data.batchId, data.tenant, jobId, 'completed');

      this.opts.metrics.recordJob(this.opts.task, 'completed', '', (Date.now() - started) / 1000);
      return { resultKey: key, modelVersion: this.opts.modelVersion, batchSize, latencyMs: Date.now() - started };
    } catch (err) {
      if (this.opts.halted?.()) {
        // Whatever this attempt died of, the model is gone: hand the job back untouched.
        await job.moveToWait(token);
        this.opts.logger.info({ jobId: job.id, task: this.opts.task }, 'job returned to the queue: the model died');
        throw new WaitingError();
      }
      throw await this.failure(job, err, started);
    }
  };

  /**
   * The worker's 'failed' listener: counts a job finished once it has failed for good (an
   * UnrecoverableError, or its last attempt). Repeats are harmless (the first count wins).
   */
  readonly onFailed = async (job: Job | undefined, err: Error): Promise<void> => {
    if (!job?.id || !(err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || isLastAttempt(job))) return;
    const batch = batchOf(job.data);
    if (!batch) return;
    try {
      await this.opts.batches.markFinished(batch.batchId, batch.tenant, job.id, 'failed');
    } catch (e) {
      this.opts.logger.error({ err: e, jobId: job.id }, 'could not count a failed job in its batch');
    }
  };

  private jobId(job: Job): string {
    if (!job.id) throw new JobError('BAD_INPUT', 'job has no id');
    return job.id;
  }

  private parse(raw: unknown): JobData {
    const r = JobDataSchema.safeParse(raw);
    if (!r.success) {
      const issues = r.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; ');
      throw new JobError('BAD_INPUT', `job data does not match the ${this.opts.task} contract: ${issues}`);
    }
    const data = r.data;
    if (data.task !== this.opts.task) {
      throw new JobError('BAD_INPUT', `a ${data.task} job in the ${this.opts.task} queue`);
    }
    if (data.task === 'embed' && (data.image === undefined) === (data.text === undefined)) {
      throw new JobError('BAD_INPUT', 'an embed job needs exactly one of image and text');
    }
    return data;
  }

  private async stage(job: Job, stage: JobStage): Promise<void> {
    await job.updateProgress({ stage });
  }

  private async checkCancel(jobId: string): Promise<void> {
    if (await this.opts.batches.isCancelRequested(jobId)) throw new JobError('CANCELLED', 'cancelled on request');
  }

  /** The result object as JSON: fixed key order, nothing time-dependent, so a re-run writes the same bytes. */
  private resultJson(jobId: string, data: JobData, output: TaskOutput): string {
    const result: JobResult = {
      jobId,
      batchId: data.batchId,
      task: this.opts.task,
      modelVersion: this.opts.modelVersion,
      output,
    };
    return JSON.stringify(result);
  }

  /** Counts and logs a failed attempt; returns what to throw to BullMQ. */
  private async failure(job: Job, err: unknown, started: number): Promise<Error> {
    const seconds = (Date.now() - started) / 1000;
    const jobErr =
      err instanceof JobError
        ? err
        : err instanceof StorageError
          ? new JobError('INTERNAL', `result storage: ${err.message}`, err.transient, { cause: err })
          : new JobError('INTERNAL', err instanceof Error ? err.message : String(err), true, { cause: err });
    const log = { jobId: job.id, task: this.opts.task, code: jobErr.code, attempt: job.attemptsMade + 1 };

    if (jobErr.transient) {
      // This attempt is number attemptsMade + 1: the last one fails the job for good.
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.opts.metrics.recordJob(this.opts.task, last ? 'failed' : 'retried', jobErr.code, seconds);
      this.opts.logger.warn({ ...log, err: jobErr.message, last }, last ? 'job failed on its last attempt' : 'job attempt failed, will retry');
      return new Error(jobErr.reason, { cause: err });
    }

    const state: FinalState = jobErr.code === 'CANCELLED' ? 'cancelled' : 'failed';
    const batch = batchOf(job.data);
    if (batch && job.id) await this.opts.batches.markFinished(batch.batchId, batch.tenant, job.id, state);
    this.opts.metrics.recordJob(this.opts.task, state, jobErr.code, seconds);
    this.opts.logger.info({ ...log, err: jobErr.message }, state === 'cancelled' ? 'job cancelled' : 'job failed');
    return new UnrecoverableError(formatFailure({ code: jobErr.code, message: jobErr.message }));
  }
}
