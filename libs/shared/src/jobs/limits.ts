/**
 * Request limits, enforced by the API (zod schemas below) and by the workers. Each is also a
 * configuration variable (config.ts); these are the defaults the README documents.
 */
export const LIMITS = Object.freeze({
  /** Items in one submit call (`items` array). */
  maxBatchItems: 1000,
  /** Decoded bytes of an inline base64 image; larger images go through `uploads.create`. */
  maxInlineImageBytes: 512 * 1024,
  /** Bytes of an image the worker reads (storage, upload or URL). */
  maxImageBytes: 20 * 1024 * 1024,
  /** width × height, read from the image header before decoding (decompression bombs). */
  maxImagePixels: 40_000_000,
  /** Characters of a VQA question. */
  maxQuestionChars: 300,
  /** Characters of a text scored by the filter or embedded. */
  maxTextChars: 1000,
  /** VQA rank mode: candidate answers and characters per candidate. */
  maxCandidates: 256,
  maxCandidateChars: 64,
  /** Characters of an idempotency key. */
  maxIdempotencyKeyChars: 128,
  /** Seconds a presigned upload URL stays valid. */
  uploadUrlTtlS: 900,
});
