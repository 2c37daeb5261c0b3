/**
 * CapFilt runs as BullMQ flows: a parent job per run (queue `blip-capfilt-run`, job id = run id)
 * whose children are one job per corpus shard (queue `blip-capfilt`, job id = run id + shard).
 * The parent runs after all children and writes the run summary. Schedules are BullMQ job
 * schedulers on `blip-capfilt-schedule`; each firing starts a run through the same path.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { FlowJob, FlowProducer } from 'bullmq';
import { z } from 'zod';
import type { ObjectStorage } from '../storage/object-storage.js';

export const CAPFILT_QUEUES = {
  shard: 'blip-capfilt',
  run: 'blip-capfilt-run',
  schedule: 'blip-capfilt-schedule',
} as const;

const Location = z
  .string()
  .trim()
  .min(1)
  .max(1024)
  .refine((s) => /^s3:\/\/[^/]+(\/.*)?$/.test(s) || /^[A-Za-z0-9._@=+,:-]+(\/[A-Za-z0-9._@=+,:-]+)*\/?$/.test(s), {
    message: 'use s3://bucket/prefix or a key prefix in the platform storage (no "..", no leading "/")',
  })
  .refine((s) => !s.split('/').includes('..'), { message: 'a location must not contain ".."' });

export const CapfiltParamsSchema = z
  .object({
    syntheticPerImage: z.number().int().min(1).max(5).default(1),
    topP: z.number().gt(0).max(1).default(0.9),
    threshold: z.number().min(0).max(1).default(0.5),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
  })
  .strict();

export const CapfiltRunRequestSchema = z
  .object({
    /** Corpus: WebDataset `.tar` shards and/or JSONL `.jsonl` manifests under this prefix. */
    input: Location,
    /** Where output shards, per-shard stats and run summaries go. */
    output: Location,
    params: CapfiltParamsSchema.default({ syntheticPerImage: 1, topP: 0.9, threshold: 0.5, seed: 0 }),
  })
  .strict()
  .refine((r) => r.input.replace(/\/+$/, '') !== r.output.replace(/\/+$/, ''), { message: 'output must differ from input' });
export type CapfiltRunRequest = z.infer<typeof CapfiltRunRequestSchema>;

export interface CapfiltShardJobData {
  runId: string;
  tenant: string;
  input: string;
  inputKey: string;
  output: string;
  params: z.infer<typeof CapfiltParamsSchema>;
}

export interface CapfiltRunJobData {
  runId: string;
  tenant: string;
  input: string;
  output: string;
  params: z.infer<typeof CapfiltParamsSchema>;
  shards: number;
  startedAt: number;
  /** Set when a schedule started the run. */
  scheduleId?: string;
}

export interface CapfiltScheduleData {
  tenant: string;
  request: CapfiltRunRequest;
  scheduleId: string;
}

/** Splits a location into the storage it lives in (opened by the caller) and the key prefix. */
export function splitLocation(location: string): { storage: 'platform' | { bucket: string }; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (m) return { storage: { bucket: m[1] ?? '' }, prefix: (m[2] ?? '').replace(/\/+$/, '') };
  return { storage: 'platform', prefix: location.replace(/\/+$/, '') };
}

/** Shard keys under a prefix (direct children ending in .tar or .jsonl), sorted. */
export async function listShards(storage: ObjectStorage, prefix: string): Promise<string[]> {
  const base = prefix ? `${prefix}/` : '';
  return (await storage.list(base)).filter((k) => !k.slice(base.length).includes('/') && /\.(tar|jsonl)$/.test(k));
}

/** BullMQ ids must not contain ':'; a shard's job id is readable and unique within its run. */
export function shardJobId(runId: string, shardKey: string): string {
  const base = shardKey.slice(shardKey.lastIndexOf('/') + 1).replace(/[^A-Za-z0-9._-]/g, '_');
  const h = createHash('sha256').update(shardKey).digest('hex').slice(0, 8);
  return `${runId}-${base}-${h}`;
}

export function newRunId(): string {
  return `run-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
}

/**
 * Starts a run: one flow, the parent with every shard as a child. Returns the run id and the
 * shard count (0 shards: the parent alone, which writes an empty summary).
 */
export async function startCapfiltRun(
  flows: FlowProducer,
  inputStorage: ObjectStorage,
  tenant: string,
  request: CapfiltRunRequest,
  opts: { prefix: string; runId?: string; scheduleId?: string; attempts?: number },
): Promise<{ runId: string; shards: string[] }> {
  const runId = opts.runId ?? newRunId();
  const shards = await listShards(inputStorage, splitLocation(request.input).prefix);
  const jobOpts = { attempts: opts.attempts ?? 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { age: 30 * 86400 }, removeOnFail: { age: 30 * 86400 } };
  const flow: FlowJob = {
    name: 'capfilt-run',
    queueName: CAPFILT_QUEUES.run,
    prefix: opts.prefix,
    data: {
      runId,
      tenant,
      input: request.input,
      output: request.output,
      params: request.params,
      shards: shards.length,
      startedAt: Date.now(),
      ...(opts.scheduleId ? { scheduleId: opts.scheduleId } : {}),
    } satisfies CapfiltRunJobData,
    opts: { ...jobOpts, jobId: runId },
    children: shards.map((inputKey) => ({
      name: 'capfilt-shard',
      queueName: CAPFILT_QUEUES.shard,
      prefix: opts.prefix,
      data: { runId, tenant, input: request.input, inputKey, output: request.output, params: request.params } satisfies CapfiltShardJobData,
      opts: { ...jobOpts, jobId: shardJobId(runId, inputKey) },
    })),
  };
  await flows.add(flow);
  return { runId, shards };
}
