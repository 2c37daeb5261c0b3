/**
 * PIL's BICUBIC resize (Pillow src/libImaging/Resample.c), ported so the runtime sees the very
 * pixels the PyTorch reference sees: separable, horizontal pass then vertical pass, filter support
 * widened by the reduction factor, coefficients normalised in double then quantised to 22-bit
 * fixed point (round half away from zero), each pass rounded and clipped to 8 bits.
 */

/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math, bounds fixed by construction */
const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT = 2.0;

/** Keys cubic with a = -0.5 (Pillow's bicubic_filter). */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  ksize: number;
  /** Per output sample: first input index and number of taps. */
  bounds: Int32Array;
  /** Per output sample, ksize fixed-point weights. */
  weights: Int32Array;
}

/** Pillow precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = BICUBIC_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5)); // C (int) truncates toward zero
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * 2 ** PRECISION_BITS : 0.5 + w * 2 ** PRECISION_BITS);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One pass along an axis of an interleaved uint8 image with `channels` bands. */
function pass(src: Uint8Array, width: number, height: number, channels: number, out: number, horizontal: boolean): Uint8Array {
  const inSize = horizontal ? width : height;
  const c = coefficients(inSize, out);
  const outW = horizontal ? out : width;
  const outH = horizontal ? height : out;
  const dst = new Uint8Array(outW * outH * channels);
  const step = horizontal ? channels : width * channels; // distance between neighbouring taps
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const i = horizontal ? x : y;
      const start = c.bounds[i * 2]!;
      const taps = c.bounds[i * 2 + 1]!;
      const base = horizontal ? (y * width + start) * channels : (start * width + x) * channels;
      const k = i * c.ksize;
      for (let ch = 0; ch < channels; ch++) {
        let acc = HALF;
        for (let t = 0; t < taps; t++) acc = (acc + src[base + t * step + ch]! * c.weights[k + t]!) | 0;
        dst[(y * outW + x) * channels + ch] = clip8(acc);
      }
    }
  }
  return dst;
}

/** Resize an interleaved uint8 image (HWC) to outWidth×outHeight exactly as PIL's BICUBIC does. */
export function resizeBicubicPIL(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  let img = src;
  let w = width;
  if (outWidth !== width) {
    img = pass(img, w, height, channels, outWidth, true);
    w = outWidth;
  }
  if (outHeight !== height) img = pass(img, w, height, channels, outHeight, false);
  return img === src ? src.slice() : img;
}
