/**
 * Collects items submitted one at a time into batches for one `run` call: a batch is flushed once
 * it holds `maxBatch` items or `maxWaitMs` after its oldest item arrived, whichever comes first,
 * or at once when the model is idle and nothing else is on its way (`incoming`).
 *
 * Open-source BullMQ has no batch worker (its `batch` option is BullMQ Pro), so each job's
 * processor submits its item here and awaits its own result: jobs keep their own retries,
 * progress and events while the model sees whole batches.
 */

export interface MicroBatcherOptions<I, R> {
  /** Most items in one batch; a batch this full is flushed at once. */
  maxBatch: number;
  /** Longest time, in ms, the oldest waiting item waits for the batch to fill. */
  maxWaitMs: number;
  /**
   * Batches running at once (default 1). While the model is busy, new items gather into the next
   * batch instead of queueing up as many small ones behind it: batches grow with load.
   */
  maxConcurrent?: number;
  /**
   * Runs one batch; returns one entry per item, in order: a result, or an Error that rejects only
   * that item. A throw rejects every item of the batch.
   */
  run: (items: I[]) => Promise<(R | Error)[]>;
  /**
   * Items on their way to this batcher (e.g. jobs still fetching their image). When it returns 0
   * and the model is idle, waiting cannot grow the batch, so it runs at once: a lone job on an
   * idle worker does not pay `maxWaitMs`. Without it, only size and time flush.
   */
  incoming?: () => number;
  /** Called with the size of each batch as it starts (metrics, throughput counters). */
  onBatch?: (size: number) => void;
}

/** The `run` function broke its contract: the batch's items are rejected with this. */
export class BatchResultError extends Error {
  override readonly name = 'BatchResultError';
}

interface Pending<I, R> {
  item: I;
  arrivedAt: number;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

export class MicroBatcher<I, R> {
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly maxConcurrent: number;
  private pending: Pending<I, R>[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set while `drain()` waits: everything is flushed without waiting for a batch to fill. */
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: MicroBatcherOptions<I, R>) {
    for (const [name, v, min] of [
      ['maxBatch', opts.maxBatch, 1],
      ['maxWaitMs', opts.maxWaitMs, 0],
      ['maxConcurrent', opts.maxConcurrent ?? 1, 1],
    ] as const) {
      if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${v}`);
    }
    this.maxBatch = opts.maxBatch;
    this.maxWaitMs = opts.maxWaitMs;
    this.maxConcurrent = opts.maxConcurrent ?? 1;
  }

  /** Items waiting for a batch (not yet running). */
  get waiting(): number {
    return this.pending.length;
  }

  /** Adds `item` to the next batch; settles with its own result. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, arrivedAt: Date.now(), resolve, reject });
      this.pump();
    });
  }

  /** Flushes what is waiting now and resolves once no batch is waiting or running (shutdown). */
  async drain(): Promise<void> {
    this.draining = true;
    try {
      this.pump();
      while (this.pending.length > 0 || this.running > 0) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
    } finally {
      this.draining = false;
    }
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.running < this.maxConcurrent && this.isDue()) {
      void this.runBatch(this.pending.splice(0, this.maxBatch));
    }
    // A free slot and items not yet due: come back when the oldest one is. (With no free slot,
    // the end of a running batch calls pump again.)
    const oldest = this.pending[0];
    if (oldest && this.running < this.maxConcurrent) {
      const wait = Math.max(0, oldest.arrivedAt + this.maxWaitMs - Date.now());
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
    }
    if (this.pending.length === 0 && this.running === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Whether the waiting items should run now: a full batch, the oldest waited enough, or draining. */
  private isDue(): boolean {
    const oldest = this.pending[0];
    if (!oldest) return false;
    return (
      this.draining ||
      this.pending.length >= this.maxBatch ||
      Date.now() - oldest.arrivedAt >= this.maxWaitMs ||
      (this.running === 0 && this.opts.incoming?.() === 0)
    );
  }

  private async runBatch(batch: Pending<I, R>[]): Promise<void> {
    this.running++;
    try {
      this.opts.onBatch?.(batch.length);
      const results = await this.opts.run(batch.map((p) => p.item));
      if (results.length !== batch.length) {
        throw new BatchResultError(`run returned ${results.length} results for ${batch.length} items`);
      }
      batch.forEach((p, i) => {
        const r = results[i] as R | Error;
        if (r instanceof Error) p.reject(r);
        else p.resolve(r);
      });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(e);
    } finally {
      this.running--;
      this.pump();
    }
  }
}
