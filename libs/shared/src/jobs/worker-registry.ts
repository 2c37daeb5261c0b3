/**
 * Live workers and their recent throughput, in Redis, for `queues.stats` and autoscaling views.
 * Each worker refreshes a heartbeat record (expires if the worker dies) and adds its micro-batch
 * sizes to per-minute counters.
 *
 * Keys:
 *   {prefix}:worker:{id}                 hash  tasks, modelVersion, host, pid, startedAt (TTL = heartbeat × 3)
 *   {prefix}:stats:{task}:{epochMinute}  hash  items, batches (TTL 2 h)
 */
import type { Redis } from 'ioredis';
import type { JobTask } from './tasks.js';

export interface WorkerInfo {
  id: string;
  tasks: JobTask[];
  modelVersion: string;
  host: string;
  pid: number;
  startedAt: number;
}

export interface Throughput {
  /** Items completed per second over the window. */
  itemsPerS: number;
  /** Mean micro-batch size over the window (0 when idle). */
  averageBatchSize: number;
  batches: number;
  items: number;
  windowS: number;
}

const STATS_TTL_S = 2 * 3600;

export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async heartbeat(w: WorkerInfo, ttlS: number): Promise<void> {
    const key = `${this.prefix}:worker:${w.id}`;
    await this.redis
      .multi()
      .hset(key, {
        tasks: w.tasks.join(','),
        modelVersion: w.modelVersion,
        host: w.host,
        pid: String(w.pid),
        startedAt: String(w.startedAt),
      })
      .expire(key, ttlS)
      .exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(`${this.prefix}:worker:${id}`);
  }

  async live(): Promise<WorkerInfo[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:worker:*`, 'COUNT', 200);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    const out: WorkerInfo[] = [];
    for (const key of keys.sort()) {
      const h = await this.redis.hgetall(key);
      if (!h['modelVersion']) continue;
      out.push({
        id: key.slice(`${this.prefix}:worker:`.length),
        tasks: (h['tasks'] ?? '').split(',').filter(Boolean) as JobTask[],
        modelVersion: h['modelVersion'],
        host: h['host'] ?? '',
        pid: Number(h['pid']),
        startedAt: Number(h['startedAt']),
      });
    }
    return out;
  }

  /** Counts one micro-batch of `items` jobs of `task`. */
  async recordBatch(task: JobTask, items: number, now = Date.now()): Promise<void> {
    const key = `${this.prefix}:stats:${task}:${Math.floor(now / 60_000)}`;
    await this.redis.multi().hincrby(key, 'items', items).hincrby(key, 'batches', 1).expire(key, STATS_TTL_S).exec();
  }

  /** Throughput of `task` over the last `windowMin` whole minutes plus the current one. */
  async throughput(task: JobTask, windowMin = 5, now = Date.now()): Promise<Throughput> {
    const minute = Math.floor(now / 60_000);
    const m = this.redis.multi();
    for (let i = 0; i <= windowMin; i++) m.hmget(`${this.prefix}:stats:${task}:${minute - i}`, 'items', 'batches');
    const rows = (await m.exec()) ?? [];
    let items = 0;
    let batches = 0;
    for (const [, v] of rows) {
      const [it, b] = (v as (string | null)[] | null) ?? [];
      items += Number(it ?? 0);
      batches += Number(b ?? 0);
    }
    const windowS = windowMin * 60 + (now % 60_000) / 1000;
    return { itemsPerS: items / windowS, averageBatchSize: batches ? items / batches : 0, batches, items, windowS };
  }
}
