/** The bundled shapes samples (datasets/shapes-samples) with their ground truth. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ShapesScene } from '@blip-jobs/shared/testing';
import { REPO_ROOT } from './processes.js';

export interface Sample {
  file: string;
  caption: string;
  scene: ShapesScene;
  questions: [string, string][];
  bytes: Buffer;
}

const DIR = path.join(REPO_ROOT, 'datasets', 'shapes-samples');

export const SAMPLES: Sample[] = (
  JSON.parse(readFileSync(path.join(DIR, 'samples.json'), 'utf8')) as Omit<Sample, 'bytes'>[]
).map((s) => ({ ...s, bytes: readFileSync(path.join(DIR, s.file)) }));

/** A sample PNG whose header claims claimW×claimH (CRC fixed, so decoders believe it): a pixel bomb. */
export function lyingPng(claimW: number, claimH: number): Buffer {
  const png = Buffer.from(SAMPLES[0]!.bytes);
  png.writeUInt32BE(claimW, 16);
  png.writeUInt32BE(claimH, 20);
  png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)), 29);
  return png;
}
