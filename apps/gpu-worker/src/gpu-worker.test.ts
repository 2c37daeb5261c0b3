/**
 * The worker end to end, in process: real Redis and BullMQ, a temp-dir FileStorage, the bundled
 * tiny model and the shapes samples. Results are compared with what `Blip` returns for each image
 * alone, so batching (and the order of jobs in a batch) must not change any result.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@blip-jobs/shared/testing';
import { Blip } from '@blip-jobs/med-model';
import {
  BatchStore,
  CaptionOptionsSchema,
  VqaOptionsSchema,
  WorkerRegistry,
  loadConfig,
  parseFailure,
  queueName,
  resultKey,
  type Config,
  type JobData,
  type JobResult,
  type JobReturn,
  type JobTask,
} from '@blip-jobs/shared';
import { FileStorage } from '@blip-jobs/shared/storage';
import { GpuWorker } from './gpu-worker.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MODEL_DIR = path.join(ROOT, 'models/blip-tiny-shapes');
const SAMPLES_DIR = path.join(ROOT, 'datasets/shapes-samples');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TASKS = ['caption', 'vqa', 'filter', 'embed'] as const;
const TENANT = 'acme';

interface Sample {
  file: string;
  caption: string;
  questions: [string, string][];
}

const prefix = `t-${randomUUID()}`;
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const batchStore = new BatchStore(redis, prefix, 3600);
const registry = new WorkerRegistry(redis, prefix);
const queues = Object.fromEntries(TASKS.map((t) => [t, new Queue(queueName(t), { connection: redis, prefix })])) as Record<JobTask, Queue>;

let dir: string;
let storage: FileStorage;
let samples: Sample[];
let images: Map<string, Buffer>;
let reference: Blip;
let worker: GpuWorker;
let config: Config;
let events: QueueEvents;
let flaky: http.Server;
let flakyUrl: string;
/** Progress stages seen per caption job, in order. */
const stages = new Map<string, string[]>();

/** A real PNG whose header claims width×height (CRC fixed, so the header parses). */
function lyingPng(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(zlib.crc32(out.subarray(12, 29)), 29);
  return out;
}


const base = (batchId: string, index: number) => ({ tenant: TENANT, batchId, index, submittedAt: 1_700_000_000_000 });
const stored = (file: string) => ({ kind: 'stored' as const, key: `uploads/${TENANT}/${file}` });

/** Creates the batch record, then enqueues its jobs (ids `{batchId}-{i}`). */
async function submit(task: JobTask, batchId: string, items: JobData[], opts: JobsOptions = {}): Promise<string[]> {
  const ids = items.map((_, i) => `${batchId}-${i}`);
  await batchStore.create({ batchId, tenant: TENANT, task, jobIds: ids, createdAt: 1 });
  await queues[task].addBulk(
    items.map((data, i) => ({ name: task, data, opts: { jobId: ids[i]!, attempts: 2, backoff: { type: 'fixed', delay: 50 }, ...opts } })),
  );
  return ids;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function result(task: JobTask, jobId: string): Promise<JobResult> {
  const obj = await storage.get(resultKey(task, reference.version, jobId));
  expect(obj, `result of ${jobId}`).not.toBeNull();
  return JSON.parse(obj!.body.toString('utf8')) as JobResult;
}

function expectClose(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThan(1e-5);
}

// Batch ids (one per task) and what they hold.
const CAPTION = 'b-caption';
const VQA = 'b-vqa';
const FILTER = 'b-filter';
const EMBED = 'b-embed';
let captionIds: string[];
let vqaIds: string[];
let filterIds: string[];
let embedIds: string[];
const NUCLEUS = CaptionOptionsSchema.parse({ mode: 'nucleus', numCaptions: 2, seed: 7 });
const CANDIDATES = ['red', 'green', 'blue', 'yellow', 'purple'];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gpu-worker-'));
  storage = new FileStorage(dir);
  samples = JSON.parse(await readFile(path.join(SAMPLES_DIR, 'samples.json'), 'utf8')) as Sample[];
  images = new Map();
  for (const s of samples) {
    const bytes = await readFile(path.join(SAMPLES_DIR, s.file));
    images.set(s.file, bytes);
    await storage.put(stored(s.file).key, bytes);
  }
  await storage.put(stored('corrupt.png').key, randomBytes(2000));
  await storage.put(stored('huge.png').key, lyingPng(images.get('sample-00.png')!, 100_000, 100_000));

  // A URL that always answers 503: a transient failure, retried until the attempts run out.
  flaky = http.createServer((_req, res) => {
    res.writeHead(503);
    res.end();
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/x.png`;

  reference = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1, transferInputs: false });

  events = new QueueEvents(queueName('caption'), { connection: { url: REDIS_URL }, prefix });
  events.on('progress', ({ jobId, data }) => {
    stages.set(jobId, [...(stages.get(jobId) ?? []), (data as { stage: string }).stage]);
  });
  await events.waitUntilReady();

  // Everything is queued before the worker starts, so its first fetches fill real batches.
  const beam = CaptionOptionsSchema.parse({});
  captionIds = await submit('caption', CAPTION, [
    ...samples.map((s, i) => ({ ...base(CAPTION, i), task: 'caption' as const, image: stored(s.file), options: beam })),
    ...samples.slice(0, 3).map((s, i) => ({ ...base(CAPTION, 12 + i), task: 'caption' as const, image: stored(s.file), options: NUCLEUS })),
    { ...base(CAPTION, 15), task: 'caption', image: stored('corrupt.png'), options: beam },
    { ...base(CAPTION, 16), task: 'caption', image: stored('huge.png'), options: beam },
  ]);
  const generate = VqaOptionsSchema.parse({});
  const rank = VqaOptionsSchema.parse({ mode: 'rank', candidates: CANDIDATES });
  // The last VQA job is cancelled before it runs.
  await batchStore.requestCancel(`${VQA}-14`);
  vqaIds = await submit('vqa', VQA, [
    ...samples.map((s, i) => ({ ...base(VQA, i), task: 'vqa' as const, image: stored(s.file), question: s.questions[0]![0], options: generate })),
    ...samples.slice(0, 2).map((s, i) => ({ ...base(VQA, 12 + i), task: 'vqa' as const, image: stored(s.file), question: s.questions[0]![0], options: rank })),
    { ...base(VQA, 14), task: 'vqa', image: stored('sample-00.png'), question: 'what color is it?', options: generate },
  ]);
  filterIds = await submit('filter', FILTER, [
    ...samples.map((s, i) => ({
      ...base(FILTER, i),
      task: 'filter' as const,
      image: stored(s.file),
      // Half the texts describe another image.
      text: i % 2 === 0 ? s.caption : samples[(i + 5) % samples.length]!.caption,
      options: { threshold: 0.5 },
    })),
    { ...base(FILTER, 12), task: 'filter', image: { kind: 'url', url: flakyUrl }, text: 'a red circle', options: { threshold: 0.5 } },
  ]);
  embedIds = await submit('embed', EMBED, [
    ...samples.slice(0, 6).map((s, i) => ({ ...base(EMBED, i), task: 'embed' as const, image: stored(s.file) })),
    ...samples.slice(0, 6).map((s, i) => ({ ...base(EMBED, 6 + i), task: 'embed' as const, text: s.caption })),
  ]);

  config = loadConfig({
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    STORAGE_URL: dir,
    MODEL_DIR,
    MODEL_CACHE_DIR: path.join(dir, 'model-cache'),
    WORKER_HTTP_PORT: String(await freePort()),
    WORKER_CONCURRENCY: '16',
    WORKER_MAX_BATCH: '8',
    WORKER_MAX_WAIT_MS: '30',
    ORT_THREADS: '1',
    FETCH_ALLOW_PRIVATE: 'true',
    FETCH_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'silent',
  });
  worker = new GpuWorker(config, { logger: pino({ level: 'silent' }) });
  await worker.start();
});

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await reference?.close();
  await Promise.all(Object.values(queues).map((q) => q.close()));
  flaky?.closeAllConnections();
  await new Promise((r) => (flaky ? flaky.close(r) : r(null)));
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

describe('GpuWorker', () => {
  it('is ready, registered and serving health and metrics', async () => {
    expect(worker.ready).toBe(true);
    expect(worker.modelVersion).toBe(reference.version);
    const live = await registry.live();
    expect(live.map((w) => w.id)).toContain(worker.id);
    expect(live.find((w) => w.id === worker.id)!.tasks).toEqual([...TASKS]);
    const url = `http://127.0.0.1:${worker.httpPort}`;
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
  });

  it('finishes every batch with the right counts', async () => {
    for (const [batchId, total] of [
      [CAPTION, 17],
      [VQA, 15],
      [FILTER, 13],
      [EMBED, 12],
    ] as const) {
      await waitFor(`batch ${batchId}`, async () => (await batchStore.get(batchId))?.pending === 0);
      expect((await batchStore.get(batchId))!.total).toBe(total);
    }
    expect((await batchStore.get(CAPTION))!.counts).toEqual({ completed: 15, failed: 2, cancelled: 0 });
    expect((await batchStore.get(VQA))!.counts).toEqual({ completed: 14, failed: 0, cancelled: 1 });
    expect((await batchStore.get(FILTER))!.counts).toEqual({ completed: 12, failed: 1, cancelled: 0 });
    expect((await batchStore.get(EMBED))!.counts).toEqual({ completed: 12, failed: 0, cancelled: 0 });
    expect(await batchStore.queued(TENANT)).toBe(0);
  });

  it('fails bad images for good with their codes, without retries', async () => {
    for (const [id, code] of [
      [captionIds[15]!, 'BAD_IMAGE'],
      [captionIds[16]!, 'IMAGE_TOO_LARGE'],
    ] as const) {
      const job = (await queues.caption.getJob(id))!;
      expect(await job.getState()).toBe('failed');
      expect(parseFailure(job.failedReason)?.code).toBe(code);
      expect(job.attemptsMade).toBe(1);
      expect(await storage.head(resultKey('caption', reference.version, id))).toBeNull();
    }
    const cancelled = (await queues.vqa.getJob(vqaIds[14]!))!;
    expect(parseFailure(cancelled.failedReason)?.code).toBe('CANCELLED');
  });

  it('retries transient fetch failures, then fails with FETCH_FAILED', async () => {
    const job = (await queues.filter.getJob(filterIds[12]!))!;
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(2);
    expect(parseFailure(job.failedReason)).toEqual({ code: 'FETCH_FAILED', message: expect.stringMatching(/HTTP 503/) });
  });

  it('writes captions equal to Blip on each image alone', async () => {
    for (let i = 0; i < 15; i++) {
      const id = captionIds[i]!;
      const s = samples[i % 12]!;
      const nucleus = i >= 12;
      const got = await result('caption', id);
      expect(Object.keys(got)).toEqual(['jobId', 'batchId', 'task', 'modelVersion', 'output']);
      expect(got).toMatchObject({ jobId: id, batchId: CAPTION, task: 'caption', modelVersion: reference.version });
      const [want] = await reference.caption([images.get(s.file)!], nucleus ? { mode: 'nucleus', numCaptions: 2, seed: 7 } : { mode: 'beam', numCaptions: 1 });
      const captions = (got.output as { captions: { text: string; score: number }[] }).captions;
      expect(captions.map((c) => c.text)).toEqual(want!.map((c) => c.text));
      captions.forEach((c, k) => expectClose(c.score, want![k]!.score));
      const ret = (await queues.caption.getJob(id))!.returnvalue as JobReturn;
      expect(ret.resultKey).toBe(resultKey('caption', reference.version, id));
      expect(ret.modelVersion).toBe(reference.version);
      expect(stages.get(id)).toEqual(['fetching', 'batched', 'writing']);
    }
  });

  it('writes VQA answers equal to Blip on each image alone', async () => {
    for (let i = 0; i < 14; i++) {
      const s = samples[i % 12]!;
      const question = s.questions[0]![0];
      const got = (await result('vqa', vqaIds[i]!)).output as { answer: string; score: number; ranked?: { answer: string; score: number }[] };
      if (i < 12) {
        const [want] = await reference.answer([images.get(s.file)!], [{ image: 0, question }], { mode: 'generate' });
        expect(got.answer).toBe(want!.answer);
        expectClose(got.score, want!.score);
        expect(got.ranked).toBeUndefined();
      } else {
        const [want] = await reference.answer([images.get(s.file)!], [{ image: 0, question }], { mode: 'rank', candidates: CANDIDATES });
        expect(got.ranked!.map((r) => r.answer)).toEqual(want!.map((r) => r.answer));
        got.ranked!.forEach((r, k) => expectClose(r.score, want![k]!.score));
        expect(got.answer).toBe(want![0]!.answer);
      }
    }
  });

  it('writes filter scores equal to Blip, keep = itm ≥ threshold', async () => {
    let kept = 0;
    for (let i = 0; i < 12; i++) {
      const s = samples[i]!;
      const text = i % 2 === 0 ? s.caption : samples[(i + 5) % samples.length]!.caption;
      const got = (await result('filter', filterIds[i]!)).output as { itm: number; itc: number; keep: boolean; threshold: number };
      const [want] = await reference.match([images.get(s.file)!], [{ image: 0, text }]);
      expectClose(got.itm, want!.itm);
      expectClose(got.itc, want!.itc);
      expect(got.threshold).toBe(0.5);
      expect(got.keep).toBe(got.itm >= 0.5);
      if (got.keep) kept++;
    }
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(12);
  });

  it('writes embeddings equal to Blip, rounded to 6 decimals', async () => {
    for (let i = 0; i < 12; i++) {
      const s = samples[i % 6]!;
      const got = ((await result('embed', embedIds[i]!)).output as { embedding: number[] }).embedding;
      const [want] = i < 6 ? await reference.embedImages([images.get(s.file)!]) : await reference.embedTexts([s.caption]);
      expect(got.length).toBe(want!.length);
      got.forEach((v, d) => {
        expectClose(v, want![d]!);
        expect(Math.round(v * 1e6) / 1e6).toBe(v);
      });
    }
  });

  it('ran real micro-batches', async () => {
    for (const task of TASKS) {
      const t = await registry.throughput(task);
      expect(t.averageBatchSize, task).toBeGreaterThan(1);
    }
    const returns = await Promise.all(captionIds.slice(0, 15).map(async (id) => ((await queues.caption.getJob(id))!.returnvalue as JobReturn).batchSize));
    expect(Math.max(...returns)).toBeGreaterThan(1);
    const metrics = await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/blip_worker_batch_size_count\{task="caption"\} [1-9]/);
    expect(metrics).toMatch(/blip_worker_jobs_total\{task="caption",outcome="failed",code="BAD_IMAGE"\} 1/);
    expect(metrics).toMatch(/blip_queue_jobs\{queue="blip-caption",state="completed"\} 15/);
    expect(metrics).toMatch(/blip_queue_jobs\{queue="blip-caption",state="prioritized"\} 0/);
    expect(metrics).toContain(`blip_worker_model_info{version="${reference.version}"} 1`);
  });

  it('re-running a job writes byte-identical results and counts it once', async () => {
    const id = captionIds[12]!; // nucleus: the seed must pin the sample whatever the batch
    const key = resultKey('caption', reference.version, id);
    const before = (await storage.get(key))!.body;
    await storage.delete(key);
    await (await queues.caption.getJob(id))!.retry('completed');
    expect(await queues.caption.getJobState(id)).not.toBe('completed');
    await waitFor('the re-run', async () => (await queues.caption.getJobState(id)) === 'completed');
    const after = (await storage.get(key))!.body;
    expect(after.equals(before)).toBe(true);
    expect((await batchStore.get(CAPTION))!.counts.completed).toBe(15);
  });

  it('close() finishes the jobs in flight and takes no more', async () => {
    const batchId = 'b-close';
    const ids = await submit(
      'caption',
      batchId,
      Array.from({ length: 40 }, (_, i) => ({
        ...base(batchId, i),
        task: 'caption' as const,
        image: stored(samples[i % 12]!.file),
        options: CaptionOptionsSchema.parse({ numBeams: 5, maxLength: 30 }),
      })),
    );
    await waitFor('active jobs', async () => (await queues.caption.getActiveCount()) > 0);
    await worker.close();
    expect(worker.ready).toBe(false);
    expect((await registry.live()).map((w) => w.id)).not.toContain(worker.id);

    const counts = await queues.caption.getJobCounts('active', 'completed', 'failed', 'waiting');
    expect(counts.active).toBe(0);
    const states = await Promise.all(ids.map((id) => queues.caption.getJobState(id)));
    expect(states.filter((s) => s === 'failed')).toEqual([]);
    const done = ids.filter((_, i) => states[i] === 'completed');
    expect(done.length).toBeGreaterThan(0);
    for (const id of done) expect(await storage.head(resultKey('caption', reference.version, id))).not.toBeNull();
    // Jobs never started stay queued for another worker.
    expect(done.length + states.filter((s) => s === 'waiting').length).toBe(40);
    const info = (await batchStore.get(batchId))!;
    expect(info.counts.completed).toBe(done.length);
    expect(info.pending).toBe(40 - done.length);
  });
});
