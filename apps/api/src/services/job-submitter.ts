/**
 * Submitting a batch: ids, quota, image claim checks, enqueue, batch record.
 *
 * Order matters for idempotency. With a key, ids are derived from (tenant, task, key), and a key
 * already recorded returns its batch untouched. Jobs are added before the batch is recorded: if
 * the API dies in between, the client's retry re-adds the same ids (BullMQ ignores ids it holds)
 * and then records the batch, so a key never yields a second job nor a batch without jobs.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type BatchStore,
  type WorkerRegistry,
  type CaptionItemSchema,
  type CaptionOptions,
  type EmbedItemSchema,
  type FilterItemSchema,
  type FilterOptions,
  type JobData,
  type JobTask,
  type VqaItemSchema,
  type VqaOptions,
} from '@blip-jobs/shared';
import { TRPCError } from '@trpc/server';
import type { z } from 'zod';
import { InputError, RetryLaterError } from '../errors.js';
import type { ImageResolver } from './image-resolver.js';
import type { JobQueues } from './job-queues.js';

export type CaptionItem = z.output<typeof CaptionItemSchema>;
export type VqaItem = z.output<typeof VqaItemSchema>;
export type FilterItem = z.output<typeof FilterItemSchema>;
export type EmbedItem = z.output<typeof EmbedItemSchema>;

export interface SubmitOptions {
  tenant: string;
  /** BullMQ priority, 1 (soonest) to 1000; none: plain FIFO. */
  priority?: number;
  idempotencyKey?: string;
}

export type TaskItems =
  | { task: 'caption'; items: CaptionItem[]; options: CaptionOptions }
  | { task: 'vqa'; items: VqaItem[]; options: VqaOptions }
  | { task: 'filter'; items: FilterItem[]; options: FilterOptions }
  | { task: 'embed'; items: EmbedItem[] };

export type SubmitRequest = SubmitOptions & TaskItems;

export interface Submitted {
  batchId: string;
  /** In item order. */
  jobIds: string[];
}

export interface JobSubmitterOptions {
  queues: JobQueues;
  batches: BatchStore;
  workers: WorkerRegistry;
  images: ImageResolver;
  /** MAX_BATCH_ITEMS */
  maxBatchItems: number;
  /** TENANT_MAX_QUEUED_JOBS */
  maxQueuedJobs: number;
  /** JOB_ATTEMPTS */
  attempts: number;
  /** JOB_BACKOFF_MS: first retry delay, doubled at each attempt. */
  backoffMs: number;
  /** JOB_RETENTION_DAYS in seconds: finished jobs, batches and idempotency keys live this long. */
  retentionS: number;
}

/** Images resolved at once per submit (storage round trips for uploads and inline images). */
const RESOLVE_CONCURRENCY = 16;

const digest = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex');
const uuidHex = (): string => randomUUID().replaceAll('-', '');

export class JobSubmitter {
  constructor(private readonly opts: JobSubmitterOptions) {}

  /** `created` is false when an idempotency key returned an existing batch. */
  async submit(req: SubmitRequest): Promise<Submitted & { created: boolean }> {
    const n = req.items.length;
    if (n > this.opts.maxBatchItems) {
      throw new InputError('BAD_REQUEST', { path: 'items', message: `${n} items is more than the ${this.opts.maxBatchItems} allowed per call; split them into several batches` });
    }
    const { batchId, jobIds } = this.ids(req);
    if (req.idempotencyKey) {
      const existing = await this.existing(batchId, n, req.idempotencyKey);
      if (existing) return { ...existing, created: false };
    }
    await this.checkQuota(req.tenant, req.task, n);

    const submittedAt = Date.now();
    const data = await this.jobData(req, { tenant: req.tenant, batchId, submittedAt });
    await this.opts.queues.get(req.task).addBulk(
      jobIds.map((jobId, i) => ({
        name: req.task,
        data: data[i] as JobData,
        opts: {
          jobId,
          attempts: this.opts.attempts,
          backoff: { type: 'exponential', delay: this.opts.backoffMs },
          removeOnComplete: { age: this.opts.retentionS },
          removeOnFail: { age: this.opts.retentionS },
          ...(req.priority !== undefined ? { priority: req.priority } : {}),
        },
      })),
    );
    const created = await this.opts.batches.create({ batchId, tenant: req.tenant, task: req.task, jobIds, createdAt: submittedAt });
    return { batchId, jobIds, created };
  }

  private ids(req: SubmitRequest): Submitted {
    const { tenant, task, idempotencyKey: key } = req;
    const n = req.items.length;
    if (!key) return { batchId: `b-${uuidHex()}`, jobIds: Array.from({ length: n }, () => `${task}-${uuidHex()}`) };
    return {
      batchId: `b-${digest(tenant, task, key).slice(0, 24)}`,
      jobIds: Array.from({ length: n }, (_, i) => `${task}-${digest(tenant, task, key, String(i)).slice(0, 32)}`),
    };
  }

  private async existing(batchId: string, n: number, key: string): Promise<Submitted | null> {
    const info = await this.opts.batches.get(batchId);
    if (!info) return null;
    if (info.total !== n) {
      throw new TRPCError({ code: 'CONFLICT', message: `idempotency key ${JSON.stringify(key)} was used for a batch of ${info.total} items, not ${n}` });
    }
    return { batchId, jobIds: await this.opts.batches.jobIds(batchId) };
  }

  /**
   * Refuses a batch that would take the tenant over its queued-job limit. Check and charge are
   * two steps, so concurrent submits may overshoot by one batch; the limit is a guard, not a ledger.
   */
  private async checkQuota(tenant: string, task: JobTask, n: number): Promise<void> {
    const max = this.opts.maxQueuedJobs;
    if (n > max) {
      throw new InputError('BAD_REQUEST', { path: 'items', message: `${n} items is more than this tenant's limit of ${max} queued jobs; split the batch` });
    }
    const queued = await this.opts.batches.queued(tenant);
    if (queued + n <= max) return;
    // Wait about as long as the workers need to work off the excess at their recent pace.
    const { itemsPerS } = await this.opts.workers.throughput(task);
    const retryAfterS = itemsPerS > 0 ? Math.min(3600, Math.max(1, Math.ceil((queued + n - max) / itemsPerS))) : 60;
    throw new RetryLaterError('quota', retryAfterS, `this tenant has ${queued} jobs queued; ${n} more would pass its limit of ${max}; retry in ${retryAfterS} s`);
  }

  /** Each item's job data in item order, images resolved (a few at a time). */
  private jobData(req: SubmitRequest, base: { tenant: string; batchId: string; submittedAt: number }): Promise<JobData[]> {
    const image = (input: CaptionItem['image'], index: number) => this.opts.images.resolve(req.tenant, input, `items.${index}.image`);
    switch (req.task) {
      case 'caption':
        return mapLimit(req.items, async (item, index): Promise<JobData> => ({ ...base, index, task: 'caption', image: await image(item.image, index), options: req.options }));
      case 'vqa':
        return mapLimit(req.items, async (item, index): Promise<JobData> => ({
          ...base,
          index,
          task: 'vqa',
          image: await image(item.image, index),
          question: item.question,
          options: req.options,
        }));
      case 'filter':
        return mapLimit(req.items, async (item, index): Promise<JobData> => ({
          ...base,
          index,
          task: 'filter',
          image: await image(item.image, index),
          text: item.text,
          options: req.options,
        }));
      case 'embed':
        return mapLimit(req.items, async (item, index): Promise<JobData> =>
          'image' in item ? { ...base, index, task: 'embed', image: await image(item.image, index) } : { ...base, index, task: 'embed', text: item.text },
        );
    }
  }
}

/** `fn` over `items` with at most RESOLVE_CONCURRENCY running at once; results in item order. */
async function mapLimit<T, R>(items: readonly T[], fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  // The runners share one iterator, so each item is taken exactly once.
  const next = items.entries();
  const run = async (): Promise<void> => {
    for (const [i, item] of next) out[i] = await fn(item, i);
  };
  await Promise.all(Array.from({ length: Math.min(RESOLVE_CONCURRENCY, items.length) }, run));
  return out;
}
