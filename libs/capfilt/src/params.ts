import { createHash } from 'node:crypto';

/** CapFilt settings (BLIP §3.3 and BLIP-FACTS.md; the defaults are the paper's). */
export interface CapfiltParams {
  /** Synthetic captions per image (K). */
  syntheticPerImage: number;
  /** Nucleus sampling mass (the paper: 0.9; 0.85 and 0.95 behave alike). */
  topP: number;
  /** A text is kept when its ITM match probability is at least this. */
  threshold: number;
  /** Run seed: with the image key it seeds each image's captions, so re-runs are identical. */
  seed: number;
}

export const DEFAULT_CAPFILT_PARAMS: Readonly<CapfiltParams> = Object.freeze({
  syntheticPerImage: 1,
  topP: 0.9,
  threshold: 0.5,
  seed: 0,
});

/** The nucleus seed of one image: from the run seed and the image key only (not its shard). */
export function imageSeed(runSeed: number, key: string): number {
  return createHash('sha256').update(`${runSeed}\0${key}`).digest().readUInt32LE(0);
}

/**
 * What a shard's output depends on: its input bytes, both model versions and the parameters.
 * An output whose stats carry the same fingerprint is up to date and is not recomputed.
 */
export function shardFingerprint(inputSha256: string, captionerVersion: string, filterVersion: string, p: CapfiltParams): string {
  const canonical = JSON.stringify([inputSha256, captionerVersion, filterVersion, p.syntheticPerImage, p.topP, p.threshold, p.seed]);
  return createHash('sha256').update(canonical).digest('hex');
}
