/**
 * The model directory the tests run against: $BLIP_MODEL_DIR (relative paths from the repo root)
 * or the bundled models/blip-tiny-shapes. Tests fail, never skip, when it is missing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function testModelDir(): string {
  const env = process.env['BLIP_MODEL_DIR']?.trim();
  return env ? path.resolve(REPO_ROOT, env) : path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');
}

export const PARITY_FIXTURE = path.join('fixtures', 'parity.json');
