/**
 * Batch bookkeeping in Redis, shared by the API (creates batches, cancels) and the workers (mark
 * jobs finished). A job is counted finished once, whatever retries, stalls or duplicate events
 * happen: the first `markFinished` wins (SADD), and only that one frees the tenant's quota.
 *
 * Keys (prefix = QUEUE_PREFIX):
 *   {prefix}:batch:{id}            hash  tenant, task, total, createdAt
 *   {prefix}:batch:{id}:jobs       list  job ids in submit order
 *   {prefix}:batch:{id}:finished   set   job ids finished in any state
 *   {prefix}:batch:{id}:{state}    set   job ids per final state
 *   {prefix}:tenant:{t}:queued     int   the tenant's jobs not yet finished
 *   {prefix}:cancel:{jobId}        flag  cancel requested while the job was running
 */
import type { Redis } from 'ioredis';
import type { JobTask } from './tasks.js';

export const FINAL_STATES = ['completed', 'failed', 'cancelled'] as const;
export type FinalState = (typeof FINAL_STATES)[number];

export interface BatchInfo {
  batchId: string;
  tenant: string;
  task: JobTask;
  total: number;
  createdAt: number;
  counts: Record<FinalState, number>;
  /** Jobs not yet finished (waiting, delayed, active or retrying). */
  pending: number;
}

const CREATE = `
if redis.call('HSETNX', KEYS[1], 'tenant', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'task', ARGV[2], 'total', ARGV[3], 'createdAt', ARGV[4])
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('INCRBY', KEYS[3], tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1`;

const FINISH = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('DECR', KEYS[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1`;

export class BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** How long batch records live, in seconds (match the jobs' retention). */
    private readonly ttlS: number,
  ) {}

  private key(batchId: string, part?: string): string {
    return `${this.prefix}:batch:${batchId}${part ? `:${part}` : ''}`;
  }

  private tenantKey(tenant: string): string {
    return `${this.prefix}:tenant:${tenant}:queued`;
  }

  /**
   * Records a batch and charges its jobs to the tenant. Returns false (and changes nothing) when
   * the batch exists already: the idempotent re-submit case.
   */
  async create(b: { batchId: string; tenant: string; task: JobTask; jobIds: readonly string[]; createdAt: number }): Promise<boolean> {
    const created = await this.redis.eval(
      CREATE,
      3,
      this.key(b.batchId),
      this.key(b.batchId, 'jobs'),
      this.tenantKey(b.tenant),
      b.tenant,
      b.task,
      String(b.jobIds.length),
      String(b.createdAt),
      String(this.ttlS),
      ...b.jobIds,
    );
    return created === 1;
  }

  /** Marks a job finished in `state`; true the first time, false for any repeat. */
  async markFinished(batchId: string, tenant: string, jobId: string, state: FinalState): Promise<boolean> {
    const r = await this.redis.eval(
      FINISH,
      3,
      this.key(batchId, 'finished'),
      this.key(batchId, state),
      this.tenantKey(tenant),
      jobId,
      String(this.ttlS),
    );
    return r === 1;
  }

  async get(batchId: string): Promise<BatchInfo | null> {
    const m = this.redis.multi();
    m.hgetall(this.key(batchId));
    for (const s of FINAL_STATES) m.scard(this.key(batchId, s));
    const out = (await m.exec()) ?? [];
    const meta = out[0]?.[1] as Record<string, string> | undefined;
    if (!meta || !meta['tenant']) return null;
    const counts = Object.fromEntries(FINAL_STATES.map((s, i) => [s, Number(out[i + 1]?.[1] ?? 0)])) as Record<FinalState, number>;
    const total = Number(meta['total']);
    return {
      batchId,
      tenant: meta['tenant'],
      task: meta['task'] as JobTask,
      total,
      createdAt: Number(meta['createdAt']),
      counts,
      pending: total - counts.completed - counts.failed - counts.cancelled,
    };
  }

  /** Job ids of a batch in submit order (`start`..`stop` inclusive, as LRANGE). */
  jobIds(batchId: string, start = 0, stop = -1): Promise<string[]> {
    return this.redis.lrange(this.key(batchId, 'jobs'), start, stop);
  }

  async isFinished(batchId: string, jobId: string): Promise<boolean> {
    return (await this.redis.sismember(this.key(batchId, 'finished'), jobId)) === 1;
  }

  /** Asks a running job to stop: the worker checks the flag before it computes and before it writes. */
  async requestCancel(jobId: string): Promise<void> {
    await this.redis.set(`${this.prefix}:cancel:${jobId}`, '1', 'EX', this.ttlS);
  }

  async isCancelRequested(jobId: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}:cancel:${jobId}`)) === 1;
  }

  /** The tenant's jobs submitted and not yet finished. */
  async queued(tenant: string): Promise<number> {
    return Number((await this.redis.get(this.tenantKey(tenant))) ?? 0);
  }
}
