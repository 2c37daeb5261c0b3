/**
 * `npm run bench:e2e`: caption throughput end to end (API → Redis → worker → S3 over HTTP, bulk
 * submit of 2,000 jobs) against libs/med-model in process with the same model, batch size and
 * threads; and the latency of a single VQA job on an idle system against the same call in
 * process. Writes bench/results/e2e.json.
 */
import { Blip } from '@blip-jobs/med-model';
import { S3Storage } from '@blip-jobs/shared/storage';
import { SAMPLES } from '../support/samples.js';
import { MODEL_DIR, Stack } from '../support/stack.js';
import { waitForBatch } from '../support/wait.js';
import { machine, percentile, printTable, writeResult } from './report.js';

const JOBS = Number(process.env['BENCH_JOBS'] ?? 2000);
const LATENCY_RUNS = Number(process.env['BENCH_LATENCY_RUNS'] ?? 60);
const BATCH = 16;
const THREADS = 2;

const stack = await Stack.start({
  workers: 1,
  env: { WORKER_MAX_BATCH: String(BATCH), WORKER_CONCURRENCY: String(BATCH * 4), ORT_THREADS: String(THREADS), LOG_LEVEL: 'error' },
});
try {
  const images = new S3Storage(stack.storage.client, 'user-images');
  for (const s of SAMPLES) await images.put(s.file, s.bytes);
  const client = stack.client();
  const uri = (i: number) => `s3://user-images/${SAMPLES[i % SAMPLES.length]!.file}`;

  // Warm the worker (sessions, first allocations) before timing.
  await waitForBatch(client, (await client.caption.submit.mutate({ items: Array.from({ length: BATCH }, (_, i) => ({ image: uri(i) })) })).batchId);

  // ---- end-to-end caption throughput
  const t0 = performance.now();
  const batchIds: string[] = [];
  for (let start = 0; start < JOBS; start += 1000) {
    const n = Math.min(1000, JOBS - start);
    batchIds.push((await client.caption.submit.mutate({ items: Array.from({ length: n }, (_, i) => ({ image: uri(start + i) })) })).batchId);
  }
  for (const b of batchIds) {
    const info = await waitForBatch(client, b, 3_600_000);
    if (info.counts.completed !== info.total) throw new Error(`batch ${b}: ${JSON.stringify(info.counts)}`);
  }
  const e2eSeconds = (performance.now() - t0) / 1000;
  const stats = await client.queues.stats.query();
  const captionStats = stats.queues.find((q) => q.task === 'caption');

  // ---- single VQA job latency on the idle system
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const s = SAMPLES[i % SAMPLES.length]!;
    const t = performance.now();
    const { jobIds } = await client.vqa.submit.mutate({ items: [{ image: uri(i), question: s.questions[0]![0] }] });
    // Followed over SSE as a client would (polling would also load the 2 cores the worker uses).
    await new Promise<void>((resolve, reject) => {
      const sub = client.jobs.watch.subscribe(
        { jobId: jobIds[0]! },
        {
          onData: ({ data }) => {
            if (data.state === 'completed') resolve();
            else if (data.state === 'failed') reject(new Error(`VQA job failed: ${JSON.stringify(data.failure)}`));
            else return;
            sub.unsubscribe();
          },
          onError: reject,
        },
      );
    });
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  await stack.stop();

  // ---- the same work in process (same model, batch size and threads; images decoded from bytes)
  const blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: THREADS, transferInputs: false });
  const bytes = Array.from({ length: JOBS }, (_, i) => SAMPLES[i % SAMPLES.length]!.bytes);
  await blip.caption(bytes.slice(0, BATCH), { mode: 'beam' });
  const t1 = performance.now();
  for (let start = 0; start < JOBS; start += BATCH) await blip.caption(bytes.slice(start, start + BATCH), { mode: 'beam' });
  const inSeconds = (performance.now() - t1) / 1000;
  const inLat: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const s = SAMPLES[i % SAMPLES.length]!;
    const t = performance.now();
    await blip.answer([s.bytes], [{ image: 0, question: s.questions[0]![0] }], { mode: 'generate' });
    inLat.push(performance.now() - t);
  }
  inLat.sort((a, b) => a - b);
  await blip.close();

  const result = {
    machine: machine(),
    model: blip.version,
    jobs: JOBS,
    batch: BATCH,
    threads: THREADS,
    e2e_seconds: +e2eSeconds.toFixed(2),
    e2e_images_per_s: +(JOBS / e2eSeconds).toFixed(2),
    inprocess_images_per_s: +(JOBS / inSeconds).toFixed(2),
    ratio: +(JOBS / e2eSeconds / (JOBS / inSeconds)).toFixed(3),
    worker_average_batch_size: captionStats ? +captionStats.throughput.averageBatchSize.toFixed(2) : null,
    vqa_runs: LATENCY_RUNS,
    vqa_p50_ms: +percentile(latencies, 50).toFixed(1),
    vqa_p99_ms: +percentile(latencies, 99).toFixed(1),
    inprocess_vqa_p50_ms: +percentile(inLat, 50).toFixed(1),
    inprocess_vqa_p99_ms: +percentile(inLat, 99).toFixed(1),
    goals: { ratio: '>= 0.9', vqa_p50_ms: '<= inprocess_vqa_p50_ms + 15' },
  };
  printTable([
    { measure: 'caption images/s (beam 3)', e2e: result.e2e_images_per_s, in_process: result.inprocess_images_per_s, ratio: result.ratio },
    { measure: 'VQA p50 ms (single job, idle)', e2e: result.vqa_p50_ms, in_process: result.inprocess_vqa_p50_ms, ratio: +(result.vqa_p50_ms - result.inprocess_vqa_p50_ms).toFixed(1) },
    { measure: 'VQA p99 ms', e2e: result.vqa_p99_ms, in_process: result.inprocess_vqa_p99_ms, ratio: '' },
  ]);
  console.log(`written ${writeResult('e2e', result)}`);
} catch (err) {
  await stack.stop().catch(() => undefined);
  throw err;
}
