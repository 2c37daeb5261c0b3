/**
 * The bundled noisy shapes corpus: the 500 held-out shapes images (datasets/shapes-test) with
 * their web texts — about half correct, half noise, ground truth kept in labels.jsonl — written
 * as WebDataset tar shards or as JSONL manifests pointing at the images.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ShapesScene } from '@blip-jobs/shared/testing';
import type { ObjectStorage } from '@blip-jobs/shared/storage';
import { pack } from 'tar-stream';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const DATASET = path.join(REPO_ROOT, 'datasets', 'shapes-test');

export interface LabelledImage {
  id: string;
  file: string;
  scene: ShapesScene;
  web_text: string;
  web_clean: boolean;
}

export const LABELS: LabelledImage[] = readFileSync(path.join(DATASET, 'labels.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as LabelledImage);

export const imageBytes = (l: LabelledImage) => readFileSync(path.join(DATASET, l.file));

/** A tar built like img2dataset's: `{key}.png`, `{key}.txt`, `{key}.json` per sample. */
export async function tarShard(members: { name: string; body: Buffer }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (const m of members) await new Promise<void>((res, rej) => p.entry({ name: m.name, mtime: new Date(0) }, m.body, (e) => (e ? rej(e) : res())));
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const chunksOf = <T>(xs: T[], n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));

/** Writes `shards` WebDataset shards under `prefix` (`shard-00000.tar`, ...); returns their keys. */
export async function writeWebDatasetCorpus(st: ObjectStorage, prefix: string, shards = 5, labels = LABELS): Promise<string[]> {
  const keys: string[] = [];
  for (const [i, part] of chunksOf(labels, Math.ceil(labels.length / shards)).entries()) {
    const members = part.flatMap((l) => [
      { name: `${l.id}.png`, body: imageBytes(l) },
      { name: `${l.id}.txt`, body: Buffer.from(l.web_text) },
      { name: `${l.id}.json`, body: Buffer.from(JSON.stringify({ key: l.id })) },
    ]);
    const key = `${prefix}/shard-${String(i).padStart(5, '0')}.tar`;
    await st.put(key, await tarShard(members));
    keys.push(key);
  }
  return keys;
}

/** Writes the images under `{prefix}/images/` and `shards` JSONL manifests referring to them by relative key. */
export async function writeJsonlCorpus(st: ObjectStorage, prefix: string, shards = 5, labels = LABELS): Promise<string[]> {
  for (const l of labels) await st.put(`${prefix}/images/${l.id}.png`, imageBytes(l));
  const keys: string[] = [];
  for (const [i, part] of chunksOf(labels, Math.ceil(labels.length / shards)).entries()) {
    const lines = part.map((l) => JSON.stringify({ id: l.id, image: `images/${l.id}.png`, text: l.web_text }));
    const key = `${prefix}/shard-${String(i).padStart(5, '0')}.jsonl`;
    await st.put(key, `${lines.join('\n')}\n`);
    keys.push(key);
  }
  return keys;
}
