/**
 * BLIP image preprocessing (tools/blip-export/blip/image.py, BLIP data/__init__.py, HF
 * BlipImageProcessor): decode, check limits, resize the whole image to S×S bicubic (aspect ratio
 * not kept, no crop), /255, normalise with mean/std, CHW float32.
 *
 * Decoding is done by sharp (libvips). Differences from the Python reference, on purpose:
 * - EXIF orientation is applied (HF `load_image` does `exif_transpose`; blip/image.py takes an
 *   already opened PIL image and would not).
 * - Untrusted input is guarded: byte size, then width×height and each dimension as the header
 *   states them, all before any pixel is decoded (decompression bombs).
 * What is kept PIL-like:
 * - Embedded ICC profiles are ignored (`ignoreIcc`), as PIL's `convert('RGB')` ignores them; the
 *   model was trained on PIL-decoded pixels. (CMYK is still converted through libvips' generic
 *   CMYK profile, where PIL uses a naive formula: CMYK JPEGs differ slightly.)
 * - Alpha is dropped without compositing, at full size, before the resize.
 * - The resize is PIL's own (pil-resample.ts) on the full-resolution decode (JPEG shrink-on-load
 *   disabled): libvips' cubic samples half a pixel off PIL's convention and differed by up to 11
 *   levels on the shapes samples, enough to change a caption.
 */
import sharp from 'sharp';
import type { Metadata, SharpOptions } from 'sharp';
import { resizeBicubicPIL } from './pil-resample.js';

export interface ImageLimits {
  /** Largest encoded input accepted, in bytes. */
  maxBytes: number;
  /** Largest width × height accepted, read from the header before decoding. */
  maxPixels: number;
  /** Largest width or height accepted, read from the header before decoding. */
  maxDimension: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = Object.freeze({
  // 20 MiB: a full-quality 50-megapixel JPEG fits; anything larger is not a photo we need.
  maxBytes: 20 * 1024 * 1024,
  // 40 megapixels (e.g. 8000×5000): decoded RGB is 120 MB. The decompression-bomb guard: a tiny
  // PNG can claim 100000×100000 (30 GB of pixels); it is refused from its header alone.
  maxPixels: 40_000_000,
  // 16384 per side: libvips and browsers handle more, but a 16384×2 strip has no use as a BLIP
  // input and extreme aspect ratios are distorted to nothing by the S×S resize.
  maxDimension: 16384,
});

export type ImageErrorCode =
  | 'EMPTY_IMAGE'
  | 'IMAGE_TOO_LARGE'
  | 'TOO_MANY_PIXELS'
  | 'UNSUPPORTED_FORMAT'
  | 'CORRUPT_IMAGE';

export class ImageError extends Error {
  override readonly name = 'ImageError';
  readonly code: ImageErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ImageErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = details;
  }
}

export function isImageError(e: unknown): e is ImageError {
  return e instanceof ImageError;
}

/** sharp `metadata().format` values we decode; GIF is read as its first frame, AVIF is `heif`. */
const SUPPORTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff']);
const SUPPORTED_LIST = 'JPEG, PNG, WebP, GIF, AVIF, TIFF';

/** A byte count for people: "25.0 MiB", or "512 bytes" below 0.1 MiB. */
function byteSize(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 0.1 ? `${mib.toFixed(1)} MiB` : `${bytes} bytes`;
}

function resolveLimits(limits: Partial<ImageLimits> | undefined): ImageLimits {
  const out = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`image limit ${k} must be a positive integer, got ${v}`);
  }
  return out;
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0 || size > 8192) {
    throw new RangeError(`image size must be an integer in [1, 8192], got ${size}`);
  }
}

function sharpMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Maps a sharp failure to an ImageError (pixel-limit errors to TOO_MANY_PIXELS). */
function decodeError(e: unknown, stage: 'header' | 'pixels', limits: ImageLimits): ImageError {
  const message = sharpMessage(e);
  if (/pixel limit/i.test(message)) {
    return new ImageError(
      'TOO_MANY_PIXELS',
      `image has more than ${limits.maxPixels} pixels, the limit (${message})`,
      { maxPixels: limits.maxPixels, sharp: message },
      e,
    );
  }
  if (stage === 'header' && /unsupported image format/i.test(message)) {
    return new ImageError(
      'UNSUPPORTED_FORMAT',
      `not an image in a supported format (${SUPPORTED_LIST})`,
      { supported: SUPPORTED_LIST, sharp: message },
      e,
    );
  }
  return new ImageError(
    'CORRUPT_IMAGE',
    stage === 'header'
      ? `the image header cannot be read: ${message}`
      : `the image is damaged or truncated and cannot be decoded: ${message}`,
    { stage, sharp: message },
    e,
  );
}

function formatName(meta: Metadata): string {
  if (meta.format === 'heif') return meta.compression === 'av1' ? 'avif' : `heif (${meta.compression ?? 'unknown'})`;
  return meta.format ?? 'unknown';
}

/**
 * Decodes an encoded image and resizes it to size×size RGB, uint8, HWC (row-major, 3 channels),
 * the pixels `resize_rgb` in blip/image.py gives. Throws ImageError for input that is empty,
 * too large, not a supported format or damaged; RangeError for a bad `size` or limits.
 */
export async function decodeAndResize(bytes: Uint8Array, size: number, limits?: Partial<ImageLimits>): Promise<Uint8Array> {
  checkSize(size);
  const lim = resolveLimits(limits);
  if (bytes.byteLength === 0) throw new ImageError('EMPTY_IMAGE', 'the image is empty (0 bytes)', { bytes: 0 });
  if (bytes.byteLength > lim.maxBytes) {
    throw new ImageError('IMAGE_TOO_LARGE', `image is ${byteSize(bytes.byteLength)}, the limit is ${byteSize(lim.maxBytes)}`, {
      bytes: bytes.byteLength,
      maxBytes: lim.maxBytes,
    });
  }

  const options: SharpOptions = {
    limitInputPixels: lim.maxPixels,
    failOn: 'error',
    ignoreIcc: true,
    pages: 1, // first frame of GIF/WebP animations, first page of TIFF
  };

  // Header only, nothing is decoded: sharp's own pixel limit is off here so that the checks
  // below can report the dimensions; it stays on for the decode as a second guard.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  } catch (e) {
    throw decodeError(e, 'header', lim);
  }
  const format = formatName(meta);
  if (!meta.format || !SUPPORTED_FORMATS.has(meta.format) || (meta.format === 'heif' && format !== 'avif')) {
    throw new ImageError('UNSUPPORTED_FORMAT', `${format} images are not supported (supported: ${SUPPORTED_LIST})`, {
      format,
      supported: SUPPORTED_LIST,
    });
  }
  const width = meta.width;
  // Multi-page input (animated GIF/WebP, TIFF): the first page's height.
  const height = meta.pageHeight ?? meta.height;
  if (!width || !height) {
    throw new ImageError('CORRUPT_IMAGE', `the ${format} header has no valid dimensions`, { format, width, height });
  }
  if (width > lim.maxDimension || height > lim.maxDimension) {
    throw new ImageError(
      'TOO_MANY_PIXELS',
      `image is ${width}×${height}, each side must be at most ${lim.maxDimension} pixels`,
      { format, width, height, maxDimension: lim.maxDimension },
    );
  }
  if (width * height > lim.maxPixels) {
    throw new ImageError(
      'TOO_MANY_PIXELS',
      `image is ${width}×${height} = ${((width * height) / 1e6).toFixed(1)} megapixels, ` +
        `the limit is ${(lim.maxPixels / 1e6).toFixed(1)} megapixels`,
      { format, width, height, pixels: width * height, maxPixels: lim.maxPixels },
    );
  }

  let full: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    // Full-resolution RGB (alpha dropped like PIL convert('RGB'); `pipelineColourspace` also
    // disables JPEG shrink-on-load), then PIL's own resampling.
    full = await sharp(bytes, options)
      .autoOrient()
      .pipelineColourspace('srgb')
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw decodeError(e, 'pixels', lim);
  }
  const { width: w, height: h, channels } = full.info;
  if (channels !== 3) throw new ImageError('CORRUPT_IMAGE', `decoded to ${channels} channels, expected RGB`, { channels });
  return resizeBicubicPIL(new Uint8Array(full.data.buffer, full.data.byteOffset, full.data.length), w, h, 3, size, size);
}

/**
 * size×size×3 uint8 HWC → 3×size×size float32 CHW, `(v/255 - mean[c]) / std[c]`, bit-identical
 * to numpy's float32 computation in blip/image.py `normalize` (every step rounded to float32).
 */
export function normalize(rgb: Uint8Array, size: number, mean: readonly number[], std: readonly number[]): Float32Array {
  checkSize(size);
  const plane = size * size;
  if (rgb.length !== plane * 3) {
    throw new RangeError(`expected ${size}×${size}×3 = ${plane * 3} bytes of RGB, got ${rgb.length}`);
  }
  if (mean.length !== 3 || std.length !== 3) {
    throw new RangeError(`mean and std need 3 values each, got ${mean.length} and ${std.length}`);
  }
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c] ?? NaN);
    const s = Math.fround(std[c] ?? NaN);
    // 256 possible inputs per channel: compute each once (same float32 rounding at every step).
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    const base = c * plane;
    for (let p = 0; p < plane; p++) out[base + p] = lut[rgb[p * 3 + c] ?? 0] ?? NaN;
  }
  return out;
}

/** One [n, 3, S, S] batch from n preprocessed images [3, S, S] (the layout every graph takes). */
export function packImages(images: readonly Float32Array[]): { pixels: Float32Array; count: number } {
  const per = images[0]?.length ?? 0;
  const pixels = new Float32Array(per * images.length);
  images.forEach((a, i) => {
    if (a.length !== per) throw new RangeError(`image ${i} has ${a.length} values, image 0 has ${per}`);
    pixels.set(a, i * per);
  });
  return { pixels, count: images.length };
}

/** decodeAndResize then normalize: the `pixel_values` row [3, size, size] of one image. */
export async function preprocess(
  bytes: Uint8Array,
  size: number,
  spec: { mean: readonly number[]; std: readonly number[] },
  limits?: Partial<ImageLimits>,
): Promise<Float32Array> {
  return normalize(await decodeAndResize(bytes, size, limits), size, spec.mean, spec.std);
}
