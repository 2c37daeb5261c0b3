import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blip } from './blip.js';
import { REPO_ROOT, testModelDir } from './test-model.js';

const dir = path.join(REPO_ROOT, 'datasets', 'shapes-samples');
const images = ['sample-00.png', 'sample-03.png', 'sample-07.png', 'sample-10.png'].map((f) => readFileSync(path.join(dir, f)));
let blip: Blip;

beforeAll(async () => {
  blip = await Blip.open(testModelDir(), { intraOpNumThreads: 1, transferInputs: false });
});
afterAll(() => blip?.close());

describe('nucleus captions with one seed per image', () => {
  it('do not depend on the batch an image runs in', async () => {
    const opts = { mode: 'nucleus' as const, numCaptions: 2 };
    const batch = await blip.caption(images, { ...opts, seeds: [11, 22, 33, 44] });
    const alone = await blip.caption([images[2]!], { ...opts, seeds: [33] });
    const reordered = await blip.caption([images[3]!, images[2]!], { ...opts, seeds: [44, 33] });
    expect(alone[0]).toEqual(batch[2]);
    expect(reordered[1]).toEqual(batch[2]);
    expect(reordered[0]).toEqual(batch[3]);
  });

  it('differ between seeds, and need one seed per image', async () => {
    const texts = new Set<string>();
    for (let s = 0; s < 6; s++) {
      const [c] = await blip.caption([images[1]!], { mode: 'nucleus', seeds: [s], temperature: 1.5 });
      texts.add(c![0]!.text);
    }
    expect(texts.size).toBeGreaterThan(1);
    await expect(blip.caption(images, { mode: 'nucleus', seeds: [1] })).rejects.toThrow(/seeds has 1 entries for 4 images/);
  });
});
