import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { StorageError, checkKey, joinKey, type ObjectStorage, type PutOptions, type StoredObject } from './object-storage.js';

export interface S3ClientOptions {
  /** Custom endpoint (MinIO, s3rver, ...); default: AWS for the region. */
  endpoint?: string;
  /** Default 'us-east-1'. */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by MinIO and s3rver. Default: true when an endpoint is set. */
  forcePathStyle?: boolean;
  /** Static credentials; default: the SDK's chain (env AWS_ACCESS_KEY_ID/..., profile, IRSA). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function createS3Client(opts: S3ClientOptions = {}): S3Client {
  // We pin Node 20 deliberately (engines); the SDK's per-process "upgrade to Node 22" warning
  // would otherwise open every log. An explicit setting by the operator wins.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const config: S3ClientConfig = {
    region: opts.region ?? 'us-east-1',
    // Checksums only where S3 requires them: otherwise a streamed PutObject to s3rver is stored
    // with the aws-chunked framing inside the object (silent corruption; SERVING-FACTS.md).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: opts.forcePathStyle ?? true } : {}),
    ...(opts.forcePathStyle !== undefined ? { forcePathStyle: opts.forcePathStyle } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  };
  return new S3Client(config);
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || status(err) === 404;
}

/** Maps an SDK failure to a StorageError; 4xx other than throttling is permanent. */
function storageFault(what: string, err: unknown): StorageError {
  const code = status(err);
  const transient = code === undefined || code >= 500 || code === 429 || !(err instanceof S3ServiceException);
  return new StorageError('UNAVAILABLE', `${what}: ${(err as Error).message || (err as Error).name}`, transient, { cause: err });
}

/** Objects in one bucket under an optional key prefix. */
export class S3Storage implements ObjectStorage {
  readonly url: string;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix = '',
  ) {
    this.url = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
  }

  private key(key: string): string {
    return joinKey(this.prefix, checkKey(key));
  }

  async put(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(key),
          Body: typeof body === 'string' ? Buffer.from(body) : body,
          ...(opts.contentType ? { ContentType: opts.contentType } : {}),
        }),
      );
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw storageFault(`put ${this.url}/${key}`, err);
    }
  }

  async get(key: string, opts: { maxBytes?: number } = {}): Promise<StoredObject | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      if (opts.maxBytes !== undefined && (out.ContentLength ?? 0) > opts.maxBytes) {
        out.Body?.transformToWebStream().cancel().catch(() => undefined);
        throw new StorageError('TOO_LARGE', `${key} is ${out.ContentLength} bytes, over the limit of ${opts.maxBytes}`, false);
      }
      if (!out.Body) throw new StorageError('UNAVAILABLE', `get ${this.url}/${key}: empty response body`, true);
      const bytes = await out.Body.transformToByteArray();
      return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), contentType: out.ContentType };
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isNotFound(err)) return null;
      throw storageFault(`get ${this.url}/${key}`, err);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isNotFound(err)) return null;
      throw storageFault(`head ${this.url}/${key}`, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const full = joinKey(this.prefix, prefix);
    const strip = this.prefix ? this.prefix.replace(/\/+$/, '').length + 1 : 0;
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key.slice(strip));
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw storageFault(`list ${this.url}/${prefix}`, err);
    }
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw storageFault(`delete ${this.url}/${key}`, err);
    }
  }

  presignPut(key: string, expiresInS: number): Promise<string | null> {
    return getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key) }), { expiresIn: expiresInS });
  }
}
