/**
 * The int8 export (tools/blip-export `python3 -m blip.quantize`, default policy) of the bundled
 * tiny model through this runtime: it loads like any model directory, carries its own version
 * and quantization record, and stays close to float32 (the held-out split's agreement is measured
 * by `npm run bench:model`; here the 12 sample images).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blip } from './blip.js';
import { loadManifest } from './manifest.js';
import { REPO_ROOT } from './test-model.js';

const MODEL = path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');
const SAMPLES = path.join(REPO_ROOT, 'datasets', 'shapes-samples');
const samples = JSON.parse(readFileSync(path.join(SAMPLES, 'samples.json'), 'utf8')) as { file: string; caption: string }[];
const images = () => samples.map((s) => new Uint8Array(readFileSync(path.join(SAMPLES, s.file))));

describe('int8 export', () => {
  let tmp: string;
  let int8Dir: string;
  let float32: Blip;
  let int8: Blip;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'blip-int8-'));
    int8Dir = path.join(tmp, 'blip-tiny-shapes-int8');
    const r = spawnSync('/usr/bin/python3', ['-m', 'blip.quantize', '--model', MODEL, '--out', int8Dir], {
      cwd: path.join(REPO_ROOT, 'tools/blip-export'),
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`blip.quantize failed: ${r.stderr}`);
    [float32, int8] = await Promise.all([Blip.open(MODEL, { intraOpNumThreads: 1 }), Blip.open(int8Dir, { intraOpNumThreads: 1 })]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([float32?.close(), int8?.close()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('has its own version and says what it was made from', async () => {
    const m = await loadManifest(int8Dir);
    const source = await loadManifest(MODEL);
    expect(m.quantization).toMatchObject({ weights: 'int8', decoders: 'ffn', source_version: source.version });
    expect(m.version).not.toBe(source.version);
    expect(int8.version).toBe(m.version);
  });

  it('captions the samples as float32 does (beam 3)', async () => {
    const [a, b] = await Promise.all([float32.caption(images()), int8.caption(images())]);
    const same = a.filter((c, i) => c[0]!.text === b[i]![0]!.text).length;
    expect(same).toBeGreaterThanOrEqual(samples.length - 1);
  });

  it('keeps ITM probabilities and ITC cosines close to float32', async () => {
    const pairs = samples.flatMap((s, image) => [
      { image, text: s.caption },
      { image, text: samples[(image + 1) % samples.length]!.caption },
    ]);
    const [a, b] = await Promise.all([float32.match(images(), pairs), int8.match(images(), pairs)]);
    const itm = Math.max(...a.map((m, i) => Math.abs(m.itm - b[i]!.itm)));
    const itc = Math.max(...a.map((m, i) => Math.abs(m.itc - b[i]!.itc)));
    expect(itm).toBeLessThan(0.05);
    expect(itc).toBeLessThan(0.05);
    // …and not identical: the int8 graphs really ran
    expect(itc).toBeGreaterThan(0);
  });
});
