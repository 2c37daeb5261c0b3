/**
 * CapFilt runs and schedules for the API: starting a run (one BullMQ flow: the run job with a
 * child per shard), reading a run's progress and summary, and refresh schedules (BullMQ job
 * schedulers, cron with time zone). Schedule ids are namespaced by tenant.
 */
import {
  CAPFILT_QUEUES,
  splitLocation,
  startCapfiltRun,
  type CapfiltRunJobData,
  type CapfiltRunRequest,
  type CapfiltScheduleData,
} from '@blip-jobs/shared';
import { openStorage, type ObjectStorage, type S3ClientOptions } from '@blip-jobs/shared/storage';
import { FlowProducer, Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

export interface CapfiltRunsOptions {
  connection: Redis;
  prefix: string;
  /** The platform storage: locations without `s3://` are prefixes in it. */
  storage: ObjectStorage;
  s3: S3ClientOptions;
}

export interface RunStatus {
  runId: string;
  state: string;
  input: string;
  output: string;
  shards: number;
  shardsDone: number;
  scheduleId: string | null;
  startedAt: number;
  /** The run summary once the run job completed. */
  summary: unknown;
  failedReason: string | null;
}

export interface ScheduleInfo {
  scheduleId: string;
  pattern: string | null;
  tz: string | null;
  next: number | null;
  request: CapfiltRunRequest | null;
}

const SEP = '--';

export class CapfiltRuns {
  private readonly flows: FlowProducer;
  private readonly runs: Queue<CapfiltRunJobData>;
  private readonly schedules: Queue<CapfiltScheduleData>;

  constructor(private readonly o: CapfiltRunsOptions) {
    this.flows = new FlowProducer({ connection: o.connection, prefix: o.prefix });
    this.runs = new Queue(CAPFILT_QUEUES.run, { connection: o.connection, prefix: o.prefix });
    this.schedules = new Queue(CAPFILT_QUEUES.schedule, { connection: o.connection, prefix: o.prefix });
  }

  private inputStorage(location: string): ObjectStorage {
    const { storage } = splitLocation(location);
    return storage === 'platform' ? this.o.storage : openStorage(`s3://${storage.bucket}`, this.o.s3);
  }

  start(tenant: string, request: CapfiltRunRequest): Promise<{ runId: string; shards: string[] }> {
    return startCapfiltRun(this.flows, this.inputStorage(request.input), tenant, request, { prefix: this.o.prefix });
  }

  /** The run, or null when there is none for this tenant. */
  async get(tenant: string, runId: string): Promise<RunStatus | null> {
    const job = await this.runs.getJob(runId);
    if (!job || job.data.tenant !== tenant) return null;
    return this.status(job);
  }

  async list(tenant: string, limit: number): Promise<RunStatus[]> {
    const jobs = await this.runs.getJobs(['waiting-children', 'waiting', 'active', 'completed', 'failed'], 0, 500);
    const own = jobs.filter((j) => j.data.tenant === tenant).sort((a, b) => b.timestamp - a.timestamp);
    return Promise.all(own.slice(0, limit).map((j) => this.status(j)));
  }

  private async status(job: Job<CapfiltRunJobData>): Promise<RunStatus> {
    const state = await job.getState();
    const deps = await job.getDependenciesCount({ processed: true });
    return {
      runId: job.data.runId,
      state,
      input: job.data.input,
      output: job.data.output,
      shards: job.data.shards,
      shardsDone: state === 'completed' ? job.data.shards : (deps.processed ?? 0),
      scheduleId: job.data.scheduleId?.split(SEP).slice(1).join(SEP) ?? null,
      startedAt: job.data.startedAt,
      summary: job.returnvalue ?? null,
      failedReason: job.failedReason ?? null,
    };
  }

  async upsertSchedule(tenant: string, scheduleId: string, pattern: string, tz: string, request: CapfiltRunRequest): Promise<ScheduleInfo> {
    const id = `${tenant}${SEP}${scheduleId}`;
    await this.schedules.upsertJobScheduler(id, { pattern, tz }, { name: 'capfilt-refresh', data: { tenant, request, scheduleId: id } });
    const s = (await this.listSchedules(tenant)).find((x) => x.scheduleId === scheduleId);
    if (!s) throw new Error(`schedule ${scheduleId} was not stored`);
    return s;
  }

  async listSchedules(tenant: string): Promise<ScheduleInfo[]> {
    const all = await this.schedules.getJobSchedulers(0, -1, true);
    return all
      .filter((s) => s.key.startsWith(`${tenant}${SEP}`))
      .map((s) => ({
        scheduleId: s.key.slice(tenant.length + SEP.length),
        pattern: s.pattern ?? null,
        tz: s.tz ?? null,
        next: s.next ?? null,
        request: (s.template?.data as CapfiltScheduleData | undefined)?.request ?? null,
      }));
  }

  /** True when a schedule was removed. */
  removeSchedule(tenant: string, scheduleId: string): Promise<boolean> {
    return this.schedules.removeJobScheduler(`${tenant}${SEP}${scheduleId}`);
  }

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), this.runs.close(), this.schedules.close()]);
  }
}
