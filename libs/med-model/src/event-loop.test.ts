/**
 * Inference through `Blip` runs in a worker thread: while a long beam-3 captioning batch runs,
 * a 5 ms interval on the main thread must never be late by 20 ms or more.
 * Also checks that the worker reproduces the engine's results (a few parity cases end to end).
 *
 * Model directory: see test-model.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blip } from './blip.js';
import { PARITY_FIXTURE, REPO_ROOT, fixturePixels, testModelDir } from './test-model.js';


interface Fixture {
  image_size: number;
  images: { file: string; resized_rgb_b64: string }[];
  caption: { beam3_prompt: { tokens: number[]; score: number }[][] };
  embed: { texts: string[]; text_itc: number[][] };
}

const dir = testModelDir();
const fixturePath = path.join(dir, PARITY_FIXTURE);

describe(`Blip worker: ${dir}`, () => {
  let blip: Blip;
  let fx: Fixture;
  let pixels: Float32Array;
  let per: number;

  beforeAll(async () => {
    fx = JSON.parse(readFileSync(fixturePath, 'utf8')) as Fixture;
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      preprocess: { mean: number[]; std: number[] };
    };
    per = 3 * fx.image_size * fx.image_size;
    pixels = fixturePixels(fx, manifest.preprocess);
    blip = await Blip.open(dir, { intraOpNumThreads: 1 });
  });

  afterAll(async () => {
    await blip?.close();
  });

  it('reproduces the beam-3 captions and text embeddings through the worker', async () => {
    const big = new Float32Array(pixels.length + 1);
    big.set(pixels, 1);
    const view = big.subarray(1); // a view into a larger buffer: copied, not detached
    const res = await blip.caption(
      { pixels: view, count: fx.images.length },
      { mode: 'beam', prompt: 'a picture of ', numBeams: 3, maxLength: 20, minLength: 5, numCaptions: 2 },
    );
    expect(res.map((r) => r.map((g) => g.tokens))).toEqual(fx.caption.beam3_prompt.map((r) => r.map((g) => g.tokens)));
    const emb = await blip.embedTexts(fx.embed.texts);
    expect(emb[0]).toBeInstanceOf(Float32Array);
    expect(Math.abs(emb[0]![0]! - fx.embed.text_itc[0]![0]!)).toBeLessThan(1e-4);
    expect(view.length, 'a view into a larger buffer is copied, not detached').toBe(fx.images.length * per);
  });

  it('keeps the main event loop responsive during a long beam-3 batch', async () => {
    const n = fx.images.length;
    const batchOf = (reps: number) => {
      const batch = new Float32Array(reps * n * per);
      for (let r = 0; r < reps; r++) batch.set(pixels, r * n * per);
      return { pixels: batch, count: reps * n };
    };
    const run = (images: { pixels: Float32Array; count: number }) =>
      blip.caption(images, { mode: 'beam', numBeams: 3, maxLength: 20, minLength: 5 });
    await run(batchOf(1)); // warm-up: the first run pays for session and allocator start-up
    let t0 = performance.now();
    await run(batchOf(1));
    const one = performance.now() - t0;
    const reps = Math.max(1, Math.ceil(700 / Math.max(one, 1))); // margin over the 300 ms the test needs
    // Built before the clock starts: the batch is transferred (not copied) to the worker.
    const images = batchOf(reps);

    /** Worst lateness of a 5 ms interval on this (the main) thread while `work` runs. */
    const lagDuring = async <T>(work: () => Promise<T>): Promise<{ worst: number; result: T }> => {
      let worst = 0;
      let last = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last - 5);
        last = now;
      }, 5);
      try {
        const result = await work();
        return { worst, result };
      } finally {
        clearInterval(timer);
      }
    };
    // The same measurement with nothing running, to tell machine noise (other jobs) from ours.
    const { worst: baseline } = await lagDuring(() => new Promise((r) => setTimeout(r, 300)));
    t0 = performance.now();
    const { worst, result: res } = await lagDuring(() => run(images));
    const took = performance.now() - t0;
    console.log(
      `event loop: beam-3 captions of ${reps * n} images (${reps} × ${n}) took ${took.toFixed(0)} ms in the worker; ` +
        `worst main-thread lag ${worst.toFixed(1)} ms (idle baseline ${baseline.toFixed(1)} ms)`,
    );
    expect(res).toHaveLength(reps * n);
    expect(images.pixels.length, 'the batch was transferred').toBe(0);
    expect(took).toBeGreaterThanOrEqual(300);
    expect(worst).toBeLessThan(20);
  });

  it('preprocesses encoded image files in the worker; concurrent requests all resolve', async () => {
    const files = fx.images.map((im) => path.join(REPO_ROOT, im.file));
    expect(files.filter((f) => !existsSync(f)), 'sample images named by the fixture').toEqual([]);
    const bytes = files.map((f) => new Uint8Array(readFileSync(f)));
    const [caps, match, emb] = await Promise.all([
      blip.caption(bytes.map((b) => b.slice()), { mode: 'greedy', prompt: '', minLength: 1 }),
      blip.match(bytes.map((b) => b.slice()), [{ image: 0, text: 'a small green circle' }]),
      blip.embedImages(bytes.map((b) => b.slice())),
    ]);
    expect(caps).toHaveLength(bytes.length);
    expect(caps.every((c) => c.length === 1 && typeof c[0]!.text === 'string')).toBe(true);
    expect(match[0]!.itm).toBeGreaterThan(0);
    expect(match[0]!.itm).toBeLessThan(1);
    expect(emb).toHaveLength(bytes.length);
    const norm = Math.hypot(...emb[0]!);
    expect(norm).toBeCloseTo(1, 4);
  });

  it('reports worker-side errors as rejections', async () => {
    await expect(blip.caption({ pixels: new Float32Array(5), count: 1 }, { mode: 'greedy' })).rejects.toThrow(/pixels hold 5 values/);
  });
});
