/**
 * Direct uploads: a client asks for an upload URL, PUTs the image there, and submits
 * `upload:{key}`. On S3 the URL is presigned by S3; on file storage the API signs its own
 * (`PUT /uploads/{token}`, token = key and expiry under an HMAC), so large images never pass
 * through a tRPC request or Redis.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { ObjectStorage } from '@blip-jobs/shared/storage';
import { InputError } from '../errors.js';
import { sameDigest } from './auth.js';

/** Every object a tenant uploads lives under this prefix; `upload:` ids elsewhere are refused. */
export function uploadKeyPrefix(tenant: string): string {
  return `uploads/${tenant}/`;
}

export interface UploadsOptions {
  storage: ObjectStorage;
  /** HMAC key for the API's own upload URLs (UPLOAD_SIGNING_SECRET); default: random per process. */
  signingSecret?: string;
  /** Seconds an upload URL stays valid (LIMITS.uploadUrlTtlS). */
  ttlS: number;
  /** Declared sizes above this are refused up front (MAX_IMAGE_BYTES). */
  maxBytes: number;
}

export interface UploadTicket {
  /** What to submit as the image: `upload:uploads/{tenant}/{uuid}`. */
  uploadId: string;
  url: string;
  method: 'PUT';
  /** ms since epoch. */
  expiresAt: number;
}

export class Uploads {
  private readonly secret: Buffer;

  constructor(private readonly opts: UploadsOptions) {
    // A random secret is fine for one process; replicas behind one URL need UPLOAD_SIGNING_SECRET.
    this.secret = opts.signingSecret ? Buffer.from(opts.signingSecret) : randomBytes(32);
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** A fresh key under the tenant's prefix and a URL to PUT it to; `apiBaseUrl` serves file-storage uploads. */
  async create(tenant: string, apiBaseUrl: string, declaredBytes?: number, now = Date.now()): Promise<UploadTicket> {
    if (declaredBytes !== undefined && declaredBytes > this.opts.maxBytes) {
      throw new InputError('PAYLOAD_TOO_LARGE', { path: 'bytes', message: `an image may have at most ${this.opts.maxBytes} bytes` });
    }
    const key = `${uploadKeyPrefix(tenant)}${randomUUID()}`;
    const expiresAt = now + this.opts.ttlS * 1000;
    const url = (await this.opts.storage.presignPut(key, this.opts.ttlS)) ?? `${apiBaseUrl}/uploads/${this.sign(key, expiresAt)}`;
    return { uploadId: `upload:${key}`, url, method: 'PUT', expiresAt };
  }

  /** The key a token grants, or null when the token is forged, altered or expired. */
  verify(token: string, now = Date.now()): string | null {
    const [payload, mac] = token.split('.');
    if (!payload || !mac || !sameDigest(Buffer.from(mac, 'base64url'), this.mac(payload))) return null;
    const [key, expiry] = Buffer.from(payload, 'base64url').toString().split('\n');
    if (!key || !expiry || !(Number(expiry) > now)) return null;
    return key;
  }

  private sign(key: string, expiresAt: number): string {
    const payload = Buffer.from(`${key}\n${expiresAt}`).toString('base64url');
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest();
  }
}
