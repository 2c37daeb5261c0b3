/**
 * `npm run bench:capfilt`: CapFilt over a 5,000-image corpus (the 500 noisy shapes images ×10,
 * each copy its own key, so its own captions) as 50 WebDataset shards in S3, run through the job
 * system (capfilt.run → flow → worker → S3), against the same work in process through
 * libs/med-model (nucleus caption + ITM on web and synthetic texts, same batch size and threads).
 * Writes bench/results/capfilt.json.
 */
import { DEFAULT_CAPFILT_PARAMS, imageSeed } from '@blip-jobs/capfilt';
import { LABELS, imageBytes, writeWebDatasetCorpus } from '@blip-jobs/capfilt/testing';
import { S3Storage } from '@blip-jobs/shared/storage';
import { Blip, loadManifest, packImages, preprocess } from '@blip-jobs/med-model';
import { MODEL_DIR, Stack } from '../support/stack.js';
import { machine, printTable, writeResult } from './report.js';

const COPIES = Number(process.env['BENCH_COPIES'] ?? 10);
const SHARDS = 5 * COPIES;
const BATCH = 32;
const THREADS = 2;
const labels = Array.from({ length: COPIES }, (_, k) => LABELS.map((l) => ({ ...l, id: `${l.id}-c${k}` }))).flat();

const stack = await Stack.start({ workers: 1, env: { CAPFILT_BATCH: String(BATCH), ORT_THREADS: String(THREADS), LOG_LEVEL: 'error' } });
let jobSeconds: number;
let summary: Record<string, unknown>;
try {
  const bucket = new S3Storage(stack.storage.client, 'user-images');
  await writeWebDatasetCorpus(bucket, 'bench/corpus', SHARDS, labels);
  const client = stack.client();
  const t0 = performance.now();
  const { runId } = await client.capfilt.run.mutate({ input: 's3://user-images/bench/corpus', output: 's3://user-images/bench/out' });
  for (;;) {
    const run = await client.capfilt.get.query({ runId });
    if (run.state === 'completed') {
      summary = run.summary as Record<string, unknown>;
      break;
    }
    if (run.state === 'failed') throw new Error(`run failed: ${run.failedReason}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  jobSeconds = (performance.now() - t0) / 1000;
} finally {
  await stack.stop();
}

// The same work in process: decode + preprocess, nucleus caption, ITM of web + synthetic texts.
const blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: THREADS });
const manifest = await loadManifest(MODEL_DIR, { verifyChecksums: false });
const S = blip.imageSizes.caption!;
const t1 = performance.now();
for (let start = 0; start < labels.length; start += BATCH) {
  const part = labels.slice(start, start + BATCH);
  const pixels = await Promise.all(part.map((l) => preprocess(imageBytes(l), S, manifest.preprocess)));
  const pack = () => packImages(pixels);
  const caps = await blip.caption(pack(), { mode: 'nucleus', topP: DEFAULT_CAPFILT_PARAMS.topP, seeds: part.map((l) => imageSeed(0, l.id)) });
  await blip.match(pack(), part.flatMap((l, i) => [{ image: i, text: l.web_text }, { image: i, text: caps[i]![0]!.text }]));
}
const inSeconds = (performance.now() - t1) / 1000;
await blip.close();

const result = {
  machine: machine(),
  model: blip.version,
  images: labels.length,
  shards: SHARDS,
  batch: BATCH,
  threads: THREADS,
  capfilt_seconds: +jobSeconds.toFixed(2),
  capfilt_images_per_s: +(labels.length / jobSeconds).toFixed(2),
  inprocess_images_per_s: +(labels.length / inSeconds).toFixed(2),
  ratio: +(labels.length / jobSeconds / (labels.length / inSeconds)).toFixed(3),
  summary,
};
printTable([
  { measure: 'CapFilt images/s', job_system: result.capfilt_images_per_s, in_process: result.inprocess_images_per_s, ratio: result.ratio },
]);
console.log(`written ${writeResult('capfilt', result)}`);
