/**
 * CapFilt on the bundled noisy shapes corpus with the bundled tiny model, as WebDataset shards
 * and as JSONL, against the ground-truth labels; incremental re-runs; a shard that dies midway.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Blip } from '@blip-jobs/med-model';
import { FileStorage } from '@blip-jobs/shared/storage';
import { exactCaptionMatch } from '@blip-jobs/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, REPO_ROOT, imageBytes, tarShard, writeJsonlCorpus, writeWebDatasetCorpus } from './testing/shapes-corpus.js';
import { readJsonl } from './jsonl.js';
import { DEFAULT_CAPFILT_PARAMS, imageSeed } from './params.js';
import { runShardJob, statsKey, summarize, type ShardJobResult } from './shard-job.js';
import { ShardProcessor, capfiltModel } from './shard-processor.js';
import { readWebDataset } from './webdataset.js';

const MODEL_DIR = path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');
const EVAL = JSON.parse(readFileSync(path.join(MODEL_DIR, 'eval.json'), 'utf8')) as Record<string, number>;

let dir: string;
let st: FileStorage;
let blip: Blip;
let processor: ShardProcessor;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'capfilt-'));
  st = new FileStorage(dir);
  blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 2 });
  const model = await capfiltModel(blip, MODEL_DIR, 'caption');
  const filter = await capfiltModel(blip, MODEL_DIR, 'match');
  processor = new ShardProcessor({ captioner: model, filter, params: DEFAULT_CAPFILT_PARAMS });
});

afterAll(async () => {
  await blip?.close();
  await rm(dir, { recursive: true, force: true });
});

const job = (inputKey: string, outputPrefix: string) =>
  runShardJob({
    input: st,
    inputKey,
    output: st,
    outputPrefix,
    processor,
    params: DEFAULT_CAPFILT_PARAMS,
    captionerVersion: blip.version,
    filterVersion: blip.version,
  });

const byId = new Map(LABELS.map((l) => [l.id, l]));

/** Ground-truth figures of a run's outputs. */
async function judge(outputs: { id: string; texts: { text: string; source: string }[] }[]) {
  const keptWeb = new Set(outputs.filter((o) => o.texts.some((t) => t.source === 'web')).map((o) => o.id));
  const noisy = LABELS.filter((l) => !l.web_clean);
  const clean = LABELS.filter((l) => l.web_clean);
  const synthetic = outputs.flatMap((o) => o.texts.filter((t) => t.source === 'synthetic').map((t) => ({ id: o.id, text: t.text })));
  return {
    noiseRemoved: noisy.filter((l) => !keptWeb.has(l.id)).length / noisy.length,
    cleanKept: clean.filter((l) => keptWeb.has(l.id)).length / clean.length,
    syntheticCorrect: synthetic.filter((s) => exactCaptionMatch(s.text, byId.get(s.id)!.scene)).length / synthetic.length,
    syntheticKept: synthetic.length,
  };
}

let webdatasetRun: { results: ShardJobResult[]; outputs: { id: string; texts: { text: string; source: string }[] }[] };

describe('CapFilt on the noisy shapes corpus', () => {
  it('WebDataset shards: reproduces the filter’s eval figures; filtering raises synthetic caption accuracy', async () => {
    const keys = await writeWebDatasetCorpus(st, 'corpus/wds', 5);
    const results: ShardJobResult[] = [];
    for (const k of keys) results.push(await job(k, 'out/wds'));
    const summary = summarize('run-1', results, 0);
    expect(summary.pairsIn).toBe(500);
    expect(summary.shardsProcessed).toBe(5);

    const outputs: { id: string; texts: { text: string; source: string }[] }[] = [];
    for (const r of results) {
      const parsed = await readWebDataset((await st.get(r.stats.outputKey))!.body);
      for (const s of parsed.samples) {
        const texts = (s.meta['capfilt'] as { texts: { text: string; source: string; itm: number }[] }).texts;
        expect(s.text).toBe(texts[0]!.text);
        texts.forEach((t) => expect(t.itm).toBeGreaterThanOrEqual(0.5));
        outputs.push({ id: s.key, texts });
      }
    }
    const g = await judge(outputs);
    // The shipped tiny filter is below the 0.95 targets (eval.json); the run must give
    // the filter's own figures — same model, same threshold, same images — within one point.
    expect(Math.abs(g.noiseRemoved - EVAL['capfilt_noise_removed']!)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(g.cleanKept - EVAL['capfilt_clean_kept']!)).toBeLessThanOrEqual(0.01);
    // The stats agree with the outputs.
    expect(summary.webKept).toBe(outputs.filter((o) => o.texts.some((t) => t.source === 'web')).length);
    expect(summary.syntheticKept).toBe(g.syntheticKept);
    // Filtering makes the synthetic captions better than what the captioner wrote.
    const allSynthetic = await syntheticAccuracyBeforeFilter();
    expect(g.syntheticCorrect).toBeGreaterThan(allSynthetic);
    console.log(JSON.stringify({ capfilt_on_shapes: { ...g, syntheticCorrectBeforeFilter: allSynthetic } }));
    webdatasetRun = { results, outputs };
  });

  it('JSONL manifests: the same decisions as the tar shards', async () => {
    const keys = await writeJsonlCorpus(st, 'corpus/jsonl', 5);
    const outputs = new Map<string, string[]>();
    for (const k of keys) {
      const r = await job(k, 'out/jsonl');
      for (const row of readJsonl((await st.get(r.stats.outputKey))!.body).samples) {
        outputs.set(row.key, [...(outputs.get(row.key) ?? []), `${row.meta['source']}:${row.text}`]);
      }
    }
    for (const o of webdatasetRun.outputs) expect(outputs.get(o.id)).toEqual(o.texts.map((t) => `${t.source}:${t.text}`));
    expect(outputs.size).toBe(webdatasetRun.outputs.length);
  });

  it('counts malformed members without failing the shard', async () => {
    const l = LABELS[0]!;
    const good = (await st.get('corpus/wds/shard-00000.tar'))!.body;
    const first = (await readWebDataset(good)).samples[0]!;
    const tar = await tarShard([
      { name: `${l.id}.png`, body: Buffer.from(first.image.kind === 'bytes' ? first.image.bytes : []) },
      { name: `${l.id}.txt`, body: Buffer.from(l.web_text) },
      { name: 'no-text.png', body: Buffer.from(first.image.kind === 'bytes' ? first.image.bytes : []) },
      { name: 'no-image.txt', body: Buffer.from('a text without its image') },
      { name: 'broken.png', body: Buffer.from('these bytes are not a PNG') },
      { name: 'broken.txt', body: Buffer.from('a small red circle') },
    ]);
    await st.put('corpus/bad/shard-bad.tar', tar);
    const r = await job('corpus/bad/shard-bad.tar', 'out/bad');
    expect(r.stats.pairsIn).toBe(2);
    expect(r.stats.malformed).toEqual({ missingImage: 1, unreadableImage: 1, missingText: 1 });
  });
});

describe('incremental and crash-safe runs', () => {
  it('a second run with nothing changed processes zero shards; changing one shard reprocesses one', async () => {
    const keys = (await st.list('corpus/wds/')).filter((k) => k.endsWith('.tar'));
    const again = await Promise.all(keys.map((k) => job(k, 'out/wds')));
    expect(again.filter((r) => !r.skipped)).toHaveLength(0);

    const sample = (await readWebDataset((await st.get(keys[2]!))!.body)).samples[0]!;
    const changed = await tarShard([
      { name: `${sample.key}.png`, body: Buffer.from((sample.image as { bytes: Uint8Array }).bytes) },
      { name: `${sample.key}.txt`, body: Buffer.from('a changed text') },
    ]);
    await st.put(keys[2]!, changed);
    const third = [];
    for (const k of keys) third.push(await job(k, 'out/wds'));
    expect(third.map((r) => r.skipped)).toEqual([true, true, false, true, true]);
  });

  it('a shard that dies midway leaves no output; the redo equals an undisturbed run', async () => {
    const key = 'corpus/wds/shard-00001.tar';
    const undisturbed = (await st.get(`out/wds/shard-00001.tar`))!.body;
    let calls = 0;
    const dying = new ShardProcessor({
      captioner: await capfiltModel(blip, MODEL_DIR, 'caption'),
      filter: await capfiltModel(blip, MODEL_DIR, 'match'),
      params: DEFAULT_CAPFILT_PARAMS,
      batchSize: 16,
      onProgress: () => {
        if (++calls === 3) throw new Error('worker killed');
      },
    });
    const run = (p: ShardProcessor) =>
      runShardJob({ input: st, inputKey: key, output: st, outputPrefix: 'out/crash', processor: p, params: DEFAULT_CAPFILT_PARAMS, captionerVersion: blip.version, filterVersion: blip.version });
    await expect(run(dying)).rejects.toThrow('worker killed');
    expect(await st.list('out/crash/')).toEqual([]);
    const redo = await run(processor);
    expect(redo.skipped).toBe(false);
    expect((await st.get(redo.stats.outputKey))!.body.equals(undisturbed)).toBe(true);
    expect(await st.head(statsKey(redo.stats.outputKey))).not.toBeNull();
  });
});

/** Share of correct captions among all synthetic captions of the run (kept or not), recomputed. */
async function syntheticAccuracyBeforeFilter(): Promise<number> {
  let right = 0;
  for (let i = 0; i < LABELS.length; i += 50) {
    const part = LABELS.slice(i, i + 50);
    const caps = await blip.caption(part.map(imageBytes), { mode: 'nucleus', topP: 0.9, seeds: part.map((l) => imageSeed(0, l.id)) });
    part.forEach((l, k) => (right += exactCaptionMatch(caps[k]![0]!.text, l.scene) ? 1 : 0));
  }
  return right / LABELS.length;
}
