/**
 * The model directory the tests run against: $BLIP_MODEL_DIR (relative paths from the repo root)
 * or the bundled models/blip-tiny-shapes. Tests fail, never skip, when it is missing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalize } from './image.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function testModelDir(): string {
  const env = process.env['BLIP_MODEL_DIR']?.trim();
  return env ? path.resolve(REPO_ROOT, env) : path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');
}

export const PARITY_FIXTURE = path.join('fixtures', 'parity.json');

/**
 * The parity fixture's images as one [B, 3, S, S] pixel batch: its `resized_rgb_b64` are PIL's
 * resized bytes, normalised exactly as the PyTorch reference normalised them.
 */
export function fixturePixels(
  fx: { image_size: number; images: readonly { resized_rgb_b64: string }[] },
  preprocess: { mean: readonly number[]; std: readonly number[] },
): Float32Array {
  const S = fx.image_size;
  const per = 3 * S * S;
  const pixels = new Float32Array(fx.images.length * per);
  fx.images.forEach((im, i) => {
    const rgb = new Uint8Array(Buffer.from(im.resized_rgb_b64, 'base64'));
    if (rgb.length !== S * S * 3) throw new Error(`fixture image ${i} has ${rgb.length} bytes, expected ${S * S * 3}`);
    pixels.set(normalize(rgb, S, preprocess.mean, preprocess.std), i * per);
  });
  return pixels;
}
