/**
 * One interface over object storage: S3 (AWS, MinIO, s3rver: any endpoint) and the local
 * filesystem (the embedded default). Keys are '/'-separated relative paths; both backends refuse
 * keys that could escape their root.
 */
export interface StoredObject {
  body: Buffer;
  contentType: string | undefined;
}

export interface PutOptions {
  contentType?: string;
}

export interface ObjectStorage {
  /** A URL-like description for logs and errors: `s3://bucket/prefix` or `file:///abs/dir`. */
  readonly url: string;
  /** Writes the whole object; a reader sees the old object or the new one, never a part. */
  put(key: string, body: Uint8Array | string, opts?: PutOptions): Promise<void>;
  /** The object, or null when there is none. */
  get(key: string, opts?: { maxBytes?: number }): Promise<StoredObject | null>;
  /** Size in bytes, or null when there is no such object. */
  head(key: string): Promise<{ size: number } | null>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * A URL a client can PUT the object to without credentials, valid for `expiresInS`; null when
   * the backend has no such URLs (the filesystem: the API then signs its own upload URLs).
   */
  presignPut(key: string, expiresInS: number): Promise<string | null>;
}

export type StorageErrorCode = 'INVALID_KEY' | 'TOO_LARGE' | 'UNAVAILABLE';

/** A storage fault. `transient` faults (network, 5xx, throttling) are worth retrying. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const KEY_SEGMENT = /^[A-Za-z0-9._@=+,:-]+$/;

/** Throws INVALID_KEY unless `key` is a clean relative path (no '..', no empty segments). */
export function checkKey(key: string): string {
  const segments = key.split('/');
  if (
    key.length === 0 ||
    key.length > 1024 ||
    segments.some((s) => s === '' || s === '.' || s === '..' || !KEY_SEGMENT.test(s))
  ) {
    throw new StorageError('INVALID_KEY', `invalid storage key ${JSON.stringify(key)}: use a relative path of [A-Za-z0-9._@=+,:-] segments`, false);
  }
  return key;
}

/** Joins a prefix and a key ('' prefix allowed). */
export function joinKey(prefix: string, key: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, '');
  return p ? `${p}/${key}` : key;
}
