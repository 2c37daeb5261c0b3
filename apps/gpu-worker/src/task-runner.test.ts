import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blip, loadManifest } from '@blip-jobs/med-model';
import { CaptionOptionsSchema, type JobData } from '@blip-jobs/shared';
import { JobError } from './job-error.js';
import { TaskRunner, type PreparedJob } from './task-runner.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MODEL_DIR = path.join(ROOT, 'models/blip-tiny-shapes');
const sample = (i: number) => readFile(path.join(ROOT, `datasets/shapes-samples/sample-${String(i).padStart(2, '0')}.png`));

let blip: Blip;
let runner: TaskRunner;

beforeAll(async () => {
  blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1 });
  runner = new TaskRunner({ blip, manifest: await loadManifest(MODEL_DIR, { verifyChecksums: false }), imageLimits: { maxPixels: 1_000_000 } });
});

afterAll(async () => {
  await blip?.close();
});

const caption = (index: number, options: object): JobData => ({
  tenant: 't',
  batchId: 'b',
  index,
  submittedAt: 0,
  task: 'caption',
  image: { kind: 'stored', key: `k${index}` },
  options: CaptionOptionsSchema.parse(options),
});

describe('TaskRunner', () => {
  it('refuses bad images per job with BAD_IMAGE or IMAGE_TOO_LARGE', async () => {
    const data = caption(0, {});
    const corrupt = await runner.prepare(data, Buffer.from('definitely not an image')).catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(JobError);
    expect((corrupt as JobError).code).toBe('BAD_IMAGE');
    const png = Buffer.from(await sample(0));
    png.writeUInt32BE(2000, 16); // claims 2000×2000 = 4 MP, over the 1 MP limit set above
    png.writeUInt32BE(2000, 20);
    png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)), 29);
    const huge = (await runner.prepare(data, png).catch((e: unknown) => e)) as JobError;
    expect([huge.code, huge.transient]).toEqual(['IMAGE_TOO_LARGE', false]);
  });

  it('gives every job the output it gets alone, whatever shares its batch', async () => {
    const jobs: PreparedJob[] = [];
    const options = [{}, { mode: 'nucleus', numCaptions: 2, seed: 3 }, { mode: 'greedy' }, { mode: 'nucleus', numCaptions: 2, seed: 3 }, {}];
    for (let i = 0; i < options.length; i++) jobs.push(await runner.prepare(caption(i, options[i]!), await sample(i)));
    // run() may be handed pixels it transfers: give each call its own copies.
    const copy = (j: PreparedJob): PreparedJob => ({ data: j.data, pixels: j.pixels!.slice() });
    const together = await runner.run(jobs.map(copy));
    const alone = await Promise.all(jobs.map(async (j) => (await runner.run([copy(j)]))[0]));
    expect(together).toEqual(alone);
    // Nucleus: numCaptions samples per image.
    const n1 = together[1] as { captions: { text: string; score: number }[] };
    expect(n1.captions).toHaveLength(2);
    // Scores are rounded to 6 decimals.
    for (const out of together) {
      for (const c of (out as { captions: { score: number }[] }).captions) expect(Math.round(c.score * 1e6) / 1e6).toBe(c.score);
    }
  });
});
