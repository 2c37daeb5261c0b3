/**
 * Turns an image as a user wrote it into where the worker reads it (`JobImage`), so that job data
 * in Redis never holds image bytes: inline images are stored first and enqueued by key (a claim
 * check). Only what the API can know without fetching is checked here; the worker re-checks what
 * a URL resolves to, and the real image format and size.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { parseS3Uri, type ObjectStorage } from '@blip-jobs/shared/storage';
import type { ImageInput, JobImage } from '@blip-jobs/shared';
import { InputError } from '../errors.js';
import { uploadKeyPrefix } from './uploads.js';

export interface ImageResolverOptions {
  storage: ObjectStorage;
  /** Decoded bytes of an inline image (MAX_INLINE_IMAGE_BYTES). */
  maxInlineBytes: number;
  /** Bytes of an uploaded image (MAX_IMAGE_BYTES). */
  maxImageBytes: number;
}

/** Addresses no image URL may name: private, loopback, link-local (cloud metadata), CGNAT, multicast, reserved. */
const REFUSED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  REFUSED.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 127], // unspecified and loopback
  // IPv4-mapped addresses (::ffff:a.b.c.d) need no rule: BlockList judges them by the IPv4 rules.
  ['64:ff9b::', 96], // NAT64: could reach any IPv4 address, private ones included
  ['fc00::', 7], // unique local (AWS metadata fd00:ec2::254 is here)
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  REFUSED.addSubnet(net, bits, 'ipv6');
}

/** Why an https URL's literal host is refused, or null when it may be fetched. */
export function refusedHost(hostname: string): string | null {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return 'localhost is not reachable from the workers';
  const family = isIP(host);
  if (family === 0) return null;
  // WHATWG URL parsing has already normalised IPv4 spellings (0x7f.1, 2130706433) to dotted quads.
  return REFUSED.check(host, family === 4 ? 'ipv4' : 'ipv6') ? `${host} is a private, loopback, link-local or reserved address` : null;
}

const MAGIC: { type: string; test: (b: Buffer) => boolean }[] = [
  { type: 'jpeg', test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'png', test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { type: 'gif', test: (b) => /^GIF8[79]a$/.test(b.subarray(0, 6).toString('latin1')) },
  { type: 'webp', test: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
  { type: 'avif', test: (b) => b.subarray(4, 8).toString('latin1') === 'ftyp' && /^avi[fs]$/.test(b.subarray(8, 12).toString('latin1')) },
  { type: 'tiff', test: (b) => ['II*\0', 'MM\0*'].includes(b.subarray(0, 4).toString('latin1')) },
  { type: 'bmp', test: (b) => b.subarray(0, 2).toString('latin1') === 'BM' },
];

/** The image format the first bytes announce, or null when they announce none we accept. */
export function sniffImageType(bytes: Buffer): string | null {
  return MAGIC.find((m) => m.test(bytes))?.type ?? null;
}

export class ImageResolver {
  constructor(private readonly opts: ImageResolverOptions) {}

  /** Where the worker finds `input`; `path` names the field in errors (`items.3.image`). */
  async resolve(tenant: string, input: ImageInput, path: string): Promise<JobImage> {
    if (typeof input !== 'string') return this.storeInline(tenant, input.base64, path);
    if (input.startsWith('s3://')) {
      const loc = parseS3Uri(input);
      if (!loc?.key) throw new InputError('BAD_REQUEST', { path, message: `${input} is not s3://bucket/key: bucket names have 3-63 characters of a-z, 0-9, '.' and '-'` });
      return { kind: 's3', bucket: loc.bucket, key: loc.key };
    }
    if (input.startsWith('https://')) {
      let url: URL;
      try {
        url = new URL(input);
      } catch {
        throw new InputError('BAD_REQUEST', { path, message: `${input} is not a valid URL` });
      }
      const why = refusedHost(url.hostname);
      if (why) throw new InputError('BAD_REQUEST', { path, message: `image URLs must name a public host: ${why}` });
      return { kind: 'url', url: url.href };
    }
    return this.checkUpload(tenant, input.slice('upload:'.length), path);
  }

  /** Another tenant's upload and a missing one get the same answer, so ids reveal nothing. */
  private async checkUpload(tenant: string, key: string, path: string): Promise<JobImage> {
    const missing = new InputError('NOT_FOUND', { path, message: `upload:${key} not found: create it with uploads.create and PUT the image first` });
    if (!key.startsWith(uploadKeyPrefix(tenant)) || key.split('/').some((s) => s === '..' || s === '.' || s === '')) throw missing;
    const head = await this.opts.storage.head(key);
    if (!head) throw missing;
    if (head.size > this.opts.maxImageBytes) {
      throw new InputError('PAYLOAD_TOO_LARGE', { path, message: `upload:${key} is ${head.size} bytes, over the limit of ${this.opts.maxImageBytes}` });
    }
    return { kind: 'stored', key };
  }

  /** Stored by content hash: the same image sent twice is one object. */
  private async storeInline(tenant: string, base64: string, path: string): Promise<JobImage> {
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length > this.opts.maxInlineBytes) {
      throw new InputError('PAYLOAD_TOO_LARGE', {
        path: `${path}.base64`,
        message: `inline image is ${bytes.length} bytes, over the limit of ${this.opts.maxInlineBytes}; upload bigger images with uploads.create`,
      });
    }
    if (!sniffImageType(bytes)) {
      throw new InputError('BAD_REQUEST', { path: `${path}.base64`, message: 'not an image: expected JPEG, PNG, GIF, WebP, AVIF, TIFF or BMP bytes' });
    }
    const key = `${uploadKeyPrefix(tenant)}${createHash('sha256').update(bytes).digest('hex')}.bin`;
    if (!(await this.opts.storage.head(key))) await this.opts.storage.put(key, bytes);
    return { kind: 'stored', key };
  }
}
