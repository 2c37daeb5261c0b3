/**
 * The worker's Prometheus metrics, in a registry of its own (several workers can live in one test
 * process). Queue depths are read from Redis when scraped.
 */
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Job states reported by `blip_queue_jobs`. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

/** How a job attempt ended, for `blip_worker_jobs_total{outcome}`. */
export type JobOutcome = 'completed' | 'failed' | 'cancelled' | 'retried';

export class WorkerMetrics {
  readonly registry = new Registry();

  /** Jobs per micro-batch. */
  readonly batchSize = new Histogram({
    name: 'blip_worker_batch_size',
    help: 'Jobs per micro-batch run on the model',
    labelNames: ['task'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  /** From the job becoming active to its result written (or its failure). */
  readonly jobDuration = new Histogram({
    name: 'blip_worker_job_duration_seconds',
    help: 'Seconds from a job becoming active to its result written or its failure',
    labelNames: ['task'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly jobs = new Counter({
    name: 'blip_worker_jobs_total',
    help: 'Job attempts by outcome (retried: a transient failure BullMQ retries) and failure code',
    labelNames: ['task', 'outcome', 'code'] as const,
    registers: [this.registry],
  });

  private readonly modelInfo = new Gauge({
    name: 'blip_worker_model_info',
    help: 'The model version this worker serves (value 1)',
    labelNames: ['version'] as const,
    registers: [this.registry],
  });

  private queues: Queue[] = [];

  constructor() {
    const queues = () => this.queues;
    new Gauge({
      name: 'blip_queue_jobs',
      // waiting + prioritized is the autoscaling signal: KEDA's list scaler reads only the wait
      // list and misses prioritized jobs.
      help: 'Jobs in each queue by state (waiting + prioritized = backlog to scale on)',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        await Promise.all(
          queues().map(async (q) => {
            const counts = await q.getJobCounts(...QUEUE_STATES);
            for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
          }),
        );
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Queues whose depth `/metrics` reports. */
  watchQueues(queues: Queue[]): void {
    this.queues = queues;
  }

  setModel(version: string): void {
    this.modelInfo.reset();
    this.modelInfo.set({ version }, 1);
  }

  recordJob(task: string, outcome: JobOutcome, code: string, seconds: number): void {
    this.jobs.inc({ task, outcome, code });
    this.jobDuration.observe({ task }, seconds);
  }
}
