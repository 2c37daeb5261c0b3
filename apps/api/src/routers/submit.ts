/**
 * What the four submit procedures share: the input envelope around a task's items, and the call
 * into the JobSubmitter. Each task's router names its own item and option schemas.
 */
import { ImageInputSchema, LIMITS } from '@blip-jobs/shared';
import { z } from 'zod';
import type { ApiServices } from '../context.js';
import type { SubmitOptions, Submitted, TaskItems } from '../services/job-submitter.js';

/** The shared image schema, with one message for a value that is neither a string nor an object. */
export const ImageInput = z.union(ImageInputSchema.options, {
  error: 'image must be s3://bucket/key, an https:// URL, upload:{key} from uploads.create, or {base64}',
});

/**
 * `{ items: Item[] }` (or `{ item }` for one), the task's `options`, `priority` (1 = soonest …
 * 1000; default: plain FIFO), `idempotencyKey` (the same key returns the same batch). Output:
 * always `items`.
 */
export function submitInput<I extends z.ZodType, O extends z.ZodType>(item: I, options: O) {
  return z
    .object({
      items: z.array(item).min(1, 'items must not be empty').optional(),
      item: item.optional(),
      priority: z.number().int().min(1, 'priority is 1 (soonest) to 1000').max(1000, 'priority is 1 (soonest) to 1000').optional(),
      idempotencyKey: z
        .string()
        .min(1, 'idempotencyKey must not be empty')
        .max(LIMITS.maxIdempotencyKeyChars, `idempotencyKey is longer than ${LIMITS.maxIdempotencyKeyChars} characters`)
        .optional(),
      options,
    })
    .strict()
    .refine((v) => (v.items === undefined) !== (v.item === undefined), { message: 'give items (an array) or item (a single item), not both' })
    .transform(({ item: one, items, ...rest }) => ({ ...rest, items: items ?? [one as z.output<I>] }));
}

export async function submit(ctx: { services: ApiServices; tenant: string }, req: TaskItems & Omit<SubmitOptions, 'tenant'>): Promise<Submitted> {
  const { batchId, jobIds, created } = await ctx.services.submitter.submit({ ...req, tenant: ctx.tenant });
  if (created) ctx.services.metrics.jobsSubmitted.inc({ task: req.task }, jobIds.length);
  ctx.services.log.debug({ tenant: ctx.tenant, task: req.task, batchId, jobs: jobIds.length, created }, 'batch submitted');
  return { batchId, jobIds };
}
