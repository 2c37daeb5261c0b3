/**
 * The benchmark's inputs (bench-model.ts): deterministic pixels, questions and ITM texts that
 * tools/blip-export/bench/bench_torch.py computes identically, so both sides see the same floats.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- modular indexing into fixed lists */
export const QUESTIONS = [
  'what is in the picture?',
  'what color is the circle?',
  'how many shapes are there?',
  'is there a square?',
  'what shape is the red object?',
  'where is the triangle?',
  'what is the size of the star?',
  'what color is the background?',
];
export const TEXTS = [
  'a small green circle',
  'a large red square on the left',
  'two blue triangles',
  'a yellow star and a purple circle',
  'an empty picture',
  'a picture of a dog',
  'three shapes in a row',
  'a big orange square next to a circle',
];
export const questions = (n: number) => Array.from({ length: n }, (_, i) => QUESTIONS[i % QUESTIONS.length]!);
export const texts = (n: number) => Array.from({ length: n }, (_, i) => TEXTS[i % TEXTS.length]! + (i < TEXTS.length ? '' : ` number ${i}`));

/** [count, 3, size, size] in [-2, 2): lowbias32 hash of (index + seed·0x9E3779B9) mod 2³² (bench_pixels in Python). */
export function benchPixels(count: number, size: number, seed: number): Float32Array {
  const n = count * 3 * size * size;
  const out = new Float32Array(n);
  const base = Math.imul(seed, 0x9e3779b9) >>> 0;
  for (let i = 0; i < n; i++) {
    let x = (i + base) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    x ^= x >>> 16;
    out[i] = ((x >>> 0) / 4294967296) * 4 - 2;
  }
  return out;
}

