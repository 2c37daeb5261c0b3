import { describe, expect, it } from 'vitest';
import { MicroBatcher } from './micro-batcher.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A batcher that doubles numbers and records every batch it ran. */
function doubler(maxBatch: number, maxWaitMs: number, runMs = 0) {
  const batches: number[][] = [];
  const sizes: number[] = [];
  const batcher = new MicroBatcher<number, number>({
    maxBatch,
    maxWaitMs,
    run: async (items) => {
      batches.push(items);
      if (runMs) await sleep(runMs);
      return items.map((x) => (x < 0 ? new Error(`negative: ${x}`) : x * 2));
    },
    onBatch: (n) => sizes.push(n),
  });
  return { batcher, batches, sizes };
}

describe('MicroBatcher', () => {
  it('flushes as soon as maxBatch items wait, without waiting for the timer', async () => {
    const { batcher, batches, sizes } = doubler(4, 60_000);
    const t0 = Date.now();
    const results = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((x) => batcher.submit(x)));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(results).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    expect(sizes).toEqual([4, 4]);
  });

  it('flushes a partial batch maxWaitMs after its first item', async () => {
    const { batcher, batches } = doubler(100, 50);
    const t0 = Date.now();
    const a = batcher.submit(1);
    await sleep(20);
    const b = batcher.submit(2);
    expect(batches).toEqual([]);
    expect(await Promise.all([a, b])).toEqual([2, 4]);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(1_000);
    expect(batches).toEqual([[1, 2]]);
    // The next item starts a new batch with its own wait.
    expect(await batcher.submit(3)).toBe(6);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('rejects only the item whose result is an Error', async () => {
    const { batcher, batches } = doubler(3, 10);
    const settled = await Promise.allSettled([batcher.submit(1), batcher.submit(-1), batcher.submit(3)]);
    expect(batches).toEqual([[1, -1, 3]]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason.message).toBe('negative: -1');
  });

  it('rejects every item of a batch whose run throws, and keeps serving', async () => {
    let fail = true;
    const batcher = new MicroBatcher<number, number>({
      maxBatch: 2,
      maxWaitMs: 5,
      run: async (items) => {
        if (fail) throw new Error('model crashed');
        return items;
      },
    });
    const settled = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(settled.map((s) => (s as PromiseRejectedResult).reason?.message)).toEqual(['model crashed', 'model crashed']);
    fail = false;
    expect(await batcher.submit(7)).toBe(7);
  });

  it('rejects a batch whose run returns the wrong number of results', async () => {
    const batcher = new MicroBatcher<number, number>({ maxBatch: 2, maxWaitMs: 5, run: async () => [1] });
    await expect(Promise.all([batcher.submit(1), batcher.submit(2)])).rejects.toThrow(/1 results for 2 items/);
  });

  it('gathers items into the next batch while one runs (maxConcurrent 1)', async () => {
    const { batcher, batches } = doubler(8, 0, 100);
    const first = batcher.submit(0);
    await sleep(10); // batch [0] is running
    const rest = [1, 2, 3, 4, 5].map((x) => batcher.submit(x));
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[0], [1, 2, 3, 4, 5]]);
  });

  it('drain() flushes waiting items at once and waits for running batches', async () => {
    const { batcher, batches } = doubler(100, 60_000, 50);
    const results: number[] = [];
    const pending = [1, 2, 3].map((x) => batcher.submit(x).then((r) => results.push(r)));
    expect(batcher.waiting).toBe(3);
    const t0 = Date.now();
    await batcher.drain();
    expect(Date.now() - t0).toBeLessThan(5_000);
    // Every result was delivered before drain() returned.
    expect(results.sort((a, b) => a - b)).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(batcher.waiting).toBe(0);
    await Promise.all(pending);
    // Idle: drain returns at once.
    await batcher.drain();
  });

  it('runs at once when the model is idle and nothing else is on its way (incoming = 0)', async () => {
    let incoming = 1;
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({
      maxBatch: 8,
      maxWaitMs: 60_000,
      incoming: () => incoming,
      run: async (items) => (batches.push(items), items),
    });
    const first = batcher.submit(1);
    await sleep(20);
    expect(batches).toEqual([]); // another job is still preparing: wait for it
    incoming = 0;
    const second = batcher.submit(2); // the last one arrives: nothing else is coming
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(batches).toEqual([[1, 2]]);
  });

  it('refuses bad options', () => {
    const run = async (items: number[]) => items;
    expect(() => new MicroBatcher({ maxBatch: 0, maxWaitMs: 1, run })).toThrow(RangeError);
    expect(() => new MicroBatcher({ maxBatch: 1, maxWaitMs: -1, run })).toThrow(RangeError);
  });
});
