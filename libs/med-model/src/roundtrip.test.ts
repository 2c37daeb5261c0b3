/**
 * Export round trip: every model directory's graphs, run by onnxruntime-node on the inputs in
 * fixtures/roundtrip.json, must reproduce the PyTorch outputs stored there within its tolerance.
 *
 * Directories: `models/*\/` and `models/*\/*\/` (from the repo root) that hold manifest.json and
 * fixtures/roundtrip.json. `models/blip-tiny-shapes` (written by tools/blip-export) is required:
 * without it this suite fails. BLIP_MODEL_DIRS=dir1,dir2 (relative paths are taken from the repo
 * root) replaces the search, e.g. to check one exported checkpoint.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor, RoundtripFixtureSchema, type DecodedTensor, type RoundtripFixture } from './fixtures.js';
import { checkGraphSignature, graphPath, loadManifest, type ModelManifest } from './manifest.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TINY_MODEL = 'models/blip-tiny-shapes';
const FIXTURE = path.join('fixtures', 'roundtrip.json');

const hasModelFiles = (dir: string) =>
  existsSync(path.join(dir, 'manifest.json')) && existsSync(path.join(dir, FIXTURE));

function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => path.join(dir, e.name))
    .sort();
}

function modelDirs(): { dirs: string[]; fromEnv: boolean } {
  const env = process.env['BLIP_MODEL_DIRS']?.trim();
  if (env) {
    const dirs = env
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => path.resolve(REPO_ROOT, d));
    return { dirs, fromEnv: true };
  }
  const level1 = subdirs(path.join(REPO_ROOT, 'models'));
  const level2 = level1.flatMap(subdirs);
  return { dirs: [...level1, ...level2].filter(hasModelFiles), fromEnv: false };
}

function toOrt(t: DecodedTensor): ort.Tensor {
  return t.dtype === 'float32' ? new ort.Tensor('float32', t.data, t.shape) : new ort.Tensor('int64', t.data, t.shape);
}

/** max |a - b| and where; NaN/Inf on one side only counts as an infinite difference. */
function maxAbsDiff(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): { max: number; at: number } {
  let max = 0;
  let at = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    const d = x === y || (Number.isNaN(x) && Number.isNaN(y)) ? 0 : Math.abs(x - y);
    const dd = Number.isNaN(d) ? Infinity : d;
    if (dd > max) {
      max = dd;
      at = i;
    }
  }
  return { max, at };
}

const { dirs, fromEnv } = modelDirs();
const relName = (d: string) => path.relative(REPO_ROOT, d) || d;

if (!fromEnv) {
  it(`finds the tiny model at ${TINY_MODEL}`, () => {
    const tiny = path.join(REPO_ROOT, TINY_MODEL);
    if (!hasModelFiles(tiny)) {
      throw new Error(
        `tiny model missing: ${TINY_MODEL}/manifest.json and ${TINY_MODEL}/${FIXTURE} are required ` +
          `(tools/blip-export writes them). Found model directories: ${dirs.map(relName).join(', ') || 'none'}. ` +
          'Set BLIP_MODEL_DIRS=dir1,dir2 to test other directories instead.',
      );
    }
  });
}
if (fromEnv && dirs.length === 0) {
  it('BLIP_MODEL_DIRS names at least one directory', () => {
    throw new Error('BLIP_MODEL_DIRS is set but names no directory');
  });
}

for (const dir of dirs) {
  describe(`round trip: ${relName(dir)}`, () => {
    let fixture: RoundtripFixture | undefined;
    let fixtureError: Error | undefined;
    try {
      fixture = RoundtripFixtureSchema.parse(JSON.parse(readFileSync(path.join(dir, FIXTURE), 'utf8')));
    } catch (err) {
      fixtureError = err as Error;
    }

    let manifest: ModelManifest;
    const sessions = new Map<string, ort.InferenceSession>();

    beforeAll(async () => {
      manifest = await loadManifest(dir, { verifyChecksums: true });
      for (const graphName of Object.keys(manifest.graphs)) {
        sessions.set(
          graphName,
          await ort.InferenceSession.create(graphPath(dir, manifest, graphName), {
            graphOptimizationLevel: 'all',
            intraOpNumThreads: 2,
            executionProviders: ['cpu'],
          }),
        );
      }
    });

    afterAll(async () => {
      for (const s of sessions.values()) await s.release();
      sessions.clear();
    });

    it(`has a readable ${FIXTURE} for the manifest's version`, () => {
      if (fixtureError) throw new Error(`${path.join(dir, FIXTURE)}: ${fixtureError.message}`);
      expect(fixture!.model, 'fixtures were written for another export').toBe(manifest.version);
    });

    it('graph signatures match the manifest', () => {
      for (const [graphName, session] of sessions) checkGraphSignature(manifest, graphName, session);
    });

    (fixture?.cases ?? []).forEach((c, index) => {
      it(`case ${index}: ${c.graph} reproduces the PyTorch outputs within ${fixture!.tolerance}`, async () => {
        const session = sessions.get(c.graph);
        if (!session) throw new Error(`fixture case ${index} names graph "${c.graph}", which the manifest does not have`);
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(c.inputs)) feeds[name] = toOrt(decodeTensor(t));
        expect(Object.keys(feeds).sort(), `inputs of case ${index}`).toEqual([...session.inputNames].sort());

        const wanted = Object.keys(c.outputs);
        const result = await session.run(feeds, wanted);
        for (const name of wanted) {
          const expected = decodeTensor(c.outputs[name]!);
          const actual = result[name];
          expect(actual, `output ${name} of case ${index}`).toBeDefined();
          expect([...actual!.dims], `shape of ${c.graph}.${name}`).toEqual(expected.shape);
          const { max, at } = maxAbsDiff(actual!.data as ArrayLike<number | bigint>, expected.data);
          expect(
            max,
            `${c.graph}.${name} (case ${index}): max |onnx - torch| = ${max} at flat index ${at}, tolerance ${fixture!.tolerance}`,
          ).toBeLessThanOrEqual(fixture!.tolerance);
        }
      });
    });
  });
}
