/**
 * The job contract between the API and the workers: what a user submits (validated by the API
 * with messages a person can act on), what travels in Redis (no image bytes: a claim check), and
 * the result each worker writes. Options are kept as given: unset fields take the model's
 * defaults (the manifest), which are pinned by the model version recorded in every result.
 */
import { z } from 'zod';
import { LIMITS } from './limits.js';
import type { JobTask } from './tasks.js';

// ---------------------------------------------------------------- images

/**
 * An image reference as users write it: `s3://bucket/key`, an `https://` URL (fetched by the
 * worker with size and time limits), or `upload:{key}` as returned by `uploads.create`.
 */
export const ImageUriSchema = z
  .string()
  .trim()
  .min(1, 'image must not be empty')
  .max(2048, 'image reference is longer than 2048 characters')
  .refine((s) => /^(s3:\/\/[^/]+\/.+|https:\/\/.+|upload:[A-Za-z0-9._/@=+,:-]+)$/.test(s), {
    message: 'image must be s3://bucket/key, an https:// URL, or upload:{key} from uploads.create',
  });

/** Small images inline, base64 encoded; bigger ones go through `uploads.create`. */
export const InlineImageSchema = z.object({
  base64: z
    .string()
    .max(Math.ceil(LIMITS.maxInlineImageBytes / 3) * 4 + 4, `inline images are limited to ${LIMITS.maxInlineImageBytes} bytes; upload bigger ones with uploads.create`)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64 must be plain base64 (no data: prefix, no line breaks)'),
});

export const ImageInputSchema = z.union([ImageUriSchema, InlineImageSchema]);
export type ImageInput = z.infer<typeof ImageInputSchema>;

/** Where the worker reads an image (after the API resolved uploads and inline bytes). */
export const JobImageSchema = z.discriminatedUnion('kind', [
  /** A key in the platform's own storage (uploads, inline images). */
  z.object({ kind: z.literal('stored'), key: z.string() }),
  z.object({ kind: z.literal('s3'), bucket: z.string(), key: z.string() }),
  z.object({ kind: z.literal('url'), url: z.string() }),
]);
export type JobImage = z.infer<typeof JobImageSchema>;

// ---------------------------------------------------------------- options per task

export const CaptionOptionsSchema = z
  .object({
    mode: z.enum(['beam', 'greedy', 'nucleus']).default('beam'),
    numBeams: z.number().int().min(1).max(8).optional(),
    maxLength: z.number().int().min(2).max(64).optional(),
    minLength: z.number().int().min(0).max(64).optional(),
    repetitionPenalty: z.number().min(1).max(10).optional(),
    /** Captions per image: beam returns the best N hypotheses, nucleus N samples. */
    numCaptions: z.number().int().min(1).max(5).default(1),
    topP: z.number().gt(0).max(1).optional(),
    topK: z.number().int().min(0).max(1000).optional(),
    temperature: z.number().gt(0).max(10).optional(),
    /** Nucleus seed: the same seed and image give the same captions. */
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    /** Caption prefix (default: the model's, `a picture of `); '' for none. */
    prompt: z.string().max(100).optional(),
  })
  .strict()
  .refine((o) => o.minLength === undefined || o.maxLength === undefined || o.minLength <= o.maxLength, {
    message: 'minLength must not exceed maxLength',
  })
  .refine((o) => o.mode !== 'beam' || (o.numBeams ?? 3) >= o.numCaptions, {
    message: 'beam search returns at most numBeams captions: raise numBeams or lower numCaptions',
  });
export type CaptionOptions = z.infer<typeof CaptionOptionsSchema>;

const QuestionSchema = z
  .string()
  .trim()
  .min(1, 'question must not be empty')
  .max(LIMITS.maxQuestionChars, `question is longer than ${LIMITS.maxQuestionChars} characters`);

export const VqaOptionsSchema = z
  .object({
    mode: z.enum(['generate', 'rank']).default('generate'),
    /** Rank mode: the answers to choose from. */
    candidates: z
      .array(z.string().trim().min(1).max(LIMITS.maxCandidateChars, `candidates are limited to ${LIMITS.maxCandidateChars} characters`))
      .min(1)
      .max(LIMITS.maxCandidates, `at most ${LIMITS.maxCandidates} candidates`)
      .optional(),
    /** Rank mode: candidates kept after the first-token step. */
    k: z.number().int().min(1).max(LIMITS.maxCandidates).optional(),
  })
  .strict()
  .refine((o) => o.mode !== 'rank' || (o.candidates?.length ?? 0) > 0, { message: 'rank mode needs candidates' });
export type VqaOptions = z.infer<typeof VqaOptionsSchema>;

const TextSchema = z
  .string()
  .trim()
  .min(1, 'text must not be empty')
  .max(LIMITS.maxTextChars, `text is longer than ${LIMITS.maxTextChars} characters`);

export const FilterOptionsSchema = z
  .object({
    /** Keep the pair when the ITM match probability is at least this. */
    threshold: z.number().min(0).max(1).default(0.5),
  })
  .strict();
export type FilterOptions = z.infer<typeof FilterOptionsSchema>;

// ---------------------------------------------------------------- items as submitted

export const CaptionItemSchema = z.object({ image: ImageInputSchema }).strict();
export const VqaItemSchema = z.object({ image: ImageInputSchema, question: QuestionSchema }).strict();
export const FilterItemSchema = z.object({ image: ImageInputSchema, text: TextSchema }).strict();
/** Embed either an image or a text (the normalised ITC embedding; its width is the model's embed_dim, 256 for BLIP base). */
export const EmbedItemSchema = z.union([
  z.object({ image: ImageInputSchema }).strict(),
  z.object({ text: TextSchema }).strict(),
]);

// ---------------------------------------------------------------- job data (in Redis)

const JobBaseSchema = z.object({
  tenant: z.string(),
  batchId: z.string(),
  /** Position of the item in its submit call. */
  index: z.number().int().min(0),
  /** ms since epoch, set by the API. */
  submittedAt: z.number(),
});

export const CaptionJobDataSchema = JobBaseSchema.extend({
  task: z.literal('caption'),
  image: JobImageSchema,
  options: CaptionOptionsSchema,
});
export const VqaJobDataSchema = JobBaseSchema.extend({
  task: z.literal('vqa'),
  image: JobImageSchema,
  question: z.string(),
  options: VqaOptionsSchema,
});
export const FilterJobDataSchema = JobBaseSchema.extend({
  task: z.literal('filter'),
  image: JobImageSchema,
  text: z.string(),
  options: FilterOptionsSchema,
});
export const EmbedJobDataSchema = JobBaseSchema.extend({
  task: z.literal('embed'),
  image: JobImageSchema.optional(),
  text: z.string().optional(),
});
export const JobDataSchema = z.discriminatedUnion('task', [
  CaptionJobDataSchema,
  VqaJobDataSchema,
  FilterJobDataSchema,
  EmbedJobDataSchema,
]);
export type JobData = z.infer<typeof JobDataSchema>;
export type JobDataOf<T extends JobTask> = Extract<JobData, { task: T }>;

// ---------------------------------------------------------------- results (in storage)

export const CaptionOutputSchema = z.object({
  captions: z.array(z.object({ text: z.string(), score: z.number() })),
});
export const VqaOutputSchema = z.object({
  answer: z.string(),
  score: z.number(),
  /** Rank mode: every kept candidate, best first. */
  ranked: z.array(z.object({ answer: z.string(), score: z.number() })).optional(),
});
export const FilterOutputSchema = z.object({
  /** ITM match probability. */
  itm: z.number(),
  /** ITC cosine similarity. */
  itc: z.number(),
  keep: z.boolean(),
  threshold: z.number(),
});
export const EmbedOutputSchema = z.object({ embedding: z.array(z.number()) });

export interface TaskOutputs {
  caption: z.infer<typeof CaptionOutputSchema>;
  vqa: z.infer<typeof VqaOutputSchema>;
  filter: z.infer<typeof FilterOutputSchema>;
  embed: z.infer<typeof EmbedOutputSchema>;
}

/**
 * The object a worker writes at `resultKey(task, modelVersion, jobId)`. Only what the job and the
 * model determine (no timestamps), so a retried job writes the same bytes.
 */
export interface JobResult<T extends JobTask = JobTask> {
  jobId: string;
  batchId: string;
  task: T;
  modelVersion: string;
  output: TaskOutputs[T];
}

/**
 * Scores in stored results are rounded to 6 decimals (and -0 written as 0): the last float32
 * digits depend on the batch an item ran in, and a retried job must write the same bytes.
 */
export function roundScore(x: number): number {
  const r = Math.round(x * 1e6) / 1e6;
  return r === 0 ? 0 : r;
}

/** What a BullMQ job returns (its `returnvalue`): where the result is and how it went. */
export interface JobReturn {
  resultKey: string;
  modelVersion: string;
  /** Items in the micro-batch the job ran in. */
  batchSize: number;
  /** ms from the job becoming active to its result written. */
  latencyMs: number;
}

// ---------------------------------------------------------------- permanent failures

/**
 * Reasons a job fails for good (no retry). The worker puts `{code}: {message}` in the job's
 * failedReason; the API parses it back into `JobFailure`.
 */
export const FAILURE_CODES = [
  'BAD_IMAGE', // not an image, corrupt, unsupported format
  'IMAGE_TOO_LARGE', // bytes, pixels or dimensions over the limits
  'IMAGE_NOT_FOUND', // no such object / 404
  'FETCH_REFUSED', // URL resolves to a private, loopback, link-local or metadata address
  'FETCH_FAILED', // URL fetch failed after retries
  'BAD_INPUT', // job data the worker cannot use
  'MODEL_MISMATCH', // job pinned to a model version this worker does not serve
  'CANCELLED',
  'INTERNAL',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export interface JobFailure {
  code: FailureCode;
  message: string;
}

export function formatFailure(f: JobFailure): string {
  return `${f.code}: ${f.message}`;
}

export function parseFailure(reason: string | undefined): JobFailure | null {
  if (!reason) return null;
  const [, code, message] = /^([A-Z_]+): ([\s\S]*)$/.exec(reason) ?? [];
  if (code !== undefined && message !== undefined && (FAILURE_CODES as readonly string[]).includes(code)) {
    return { code: code as FailureCode, message };
  }
  return { code: 'INTERNAL', message: reason };
}
