import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchStore } from './batch-store.js';
import { WorkerRegistry } from './worker-registry.js';

// Real Redis (the Lua scripts must run where BullMQ's do).
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const prefix = `t-${randomUUID()}`;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('BatchStore', () => {
  it('creates a batch once and charges the tenant once', async () => {
    const store = new BatchStore(redis, prefix, 60);
    const b = { batchId: 'b1', tenant: 'acme', task: 'caption' as const, jobIds: ['j1', 'j2', 'j3'], createdAt: 5 };
    expect(await store.create(b)).toBe(true);
    expect(await store.create(b)).toBe(false);
    expect(await store.queued('acme')).toBe(3);
    expect(await store.jobIds('b1')).toEqual(['j1', 'j2', 'j3']);
    expect(await store.get('b1')).toEqual({
      batchId: 'b1',
      tenant: 'acme',
      task: 'caption',
      total: 3,
      createdAt: 5,
      counts: { completed: 0, failed: 0, cancelled: 0 },
      pending: 3,
    });
    expect(await store.get('nope')).toBeNull();
  });

  it('counts each job finished once, whatever repeats', async () => {
    const store = new BatchStore(redis, prefix, 60);
    await store.create({ batchId: 'b2', tenant: 'globex', task: 'vqa', jobIds: ['a', 'b', 'c'], createdAt: 1 });
    expect(await store.markFinished('b2', 'globex', 'a', 'completed')).toBe(true);
    expect(await store.markFinished('b2', 'globex', 'a', 'completed')).toBe(false);
    expect(await store.markFinished('b2', 'globex', 'a', 'failed')).toBe(false);
    expect(await store.markFinished('b2', 'globex', 'b', 'failed')).toBe(true);
    expect(await store.markFinished('b2', 'globex', 'c', 'cancelled')).toBe(true);
    const info = (await store.get('b2'))!;
    expect(info.counts).toEqual({ completed: 1, failed: 1, cancelled: 1 });
    expect(info.pending).toBe(0);
    expect(await store.queued('globex')).toBe(0);
    expect(await store.isFinished('b2', 'a')).toBe(true);
  });

  it('keeps cancel requests', async () => {
    const store = new BatchStore(redis, prefix, 60);
    expect(await store.isCancelRequested('j9')).toBe(false);
    await store.requestCancel('j9');
    expect(await store.isCancelRequested('j9')).toBe(true);
  });
});

describe('WorkerRegistry', () => {
  it('lists live workers and sums throughput', async () => {
    const reg = new WorkerRegistry(redis, prefix);
    await reg.heartbeat({ id: 'w1', tasks: ['caption', 'vqa'], modelVersion: 'm@1', host: 'h', pid: 7, startedAt: 3 }, 30);
    expect(await reg.live()).toEqual([{ id: 'w1', tasks: ['caption', 'vqa'], modelVersion: 'm@1', host: 'h', pid: 7, startedAt: 3 }]);
    const now = 1_000_000 * 60_000 + 30_000; // 30 s into a minute
    await reg.recordBatch('caption', 8, now);
    await reg.recordBatch('caption', 4, now - 60_000);
    const t = await reg.throughput('caption', 5, now);
    expect(t.items).toBe(12);
    expect(t.batches).toBe(2);
    expect(t.averageBatchSize).toBe(6);
    expect(t.windowS).toBe(330);
    await reg.remove('w1');
    expect(await reg.live()).toEqual([]);
  });
});
