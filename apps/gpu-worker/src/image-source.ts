/**
 * Reads the bytes of a job's image: from the platform's storage (uploads, inline images), from a
 * user's S3 bucket, or from an https:// URL. URL fetches are the SSRF surface of the system: they
 * are refused for any address inside the network (see `isPublicAddress`), with the check made on
 * the address the socket actually connects to, so a DNS answer that changes between a check and
 * the connection (rebinding) cannot slip through.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { JobImage } from '@blip-jobs/shared';
import {
  S3Storage,
  StorageError,
  createS3Client,
  type ObjectStorage,
  type S3ClientOptions,
} from '@blip-jobs/shared/storage';
import { JobError } from './job-error.js';

export interface ImageSourceOptions {
  /** The platform's own storage (`stored` images). */
  storage: ObjectStorage;
  /** Client options for `s3` images (endpoint, region, path style); one client serves all buckets. */
  s3?: S3ClientOptions;
  /** Largest image read, in bytes (MAX_IMAGE_BYTES). */
  maxBytes: number;
  /** Time limit of one URL fetch, redirects included, in ms (FETCH_TIMEOUT_MS). */
  fetchTimeoutMs: number;
  /**
   * Allow private, loopback and link-local addresses, and plain http:// (FETCH_ALLOW_PRIVATE).
   * For tests against local servers only. Default false.
   */
  allowPrivate?: boolean;
  /** Redirects followed, each one checked like the first URL. Default 3. */
  maxRedirects?: number;
}

/**
 * Addresses a fetch must never reach: this host, private networks, link-local (cloud metadata at
 * 169.254.169.254), CGNAT, multicast, reserved. Node's BlockList also matches IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`) against the IPv4 rules.
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['64:ff9b::', 96], // NAT64: reaches IPv4 addresses, private ones included
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv6');
}

/** False for loopback, private, link-local, CGNAT, multicast and reserved addresses. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !BLOCKED.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

function refused(what: string, address: string): JobError {
  return new JobError('FETCH_REFUSED', `${what} resolves to ${address}, a private, loopback or link-local address`);
}

/**
 * A `lookup` for http(s).request that resolves the name and refuses it when any of its addresses
 * is not public. The socket connects only to the addresses returned here.
 */
function publicOnlyLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const bad = addresses.find((a) => !isPublicAddress(a.address));
      if (bad) return callback(refused(hostname, bad.address), '', 4);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
      callback(null, first.address, first.family);
    });
  };
}

/** Network error codes worth a retry (the server or the path may recover). */
const TRANSIENT_NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class ImageSource {
  private readonly storage: ObjectStorage;
  private readonly maxBytes: number;
  private readonly fetchTimeoutMs: number;
  private readonly allowPrivate: boolean;
  private readonly maxRedirects: number;
  private readonly s3Options: S3ClientOptions;
  private s3Client: ReturnType<typeof createS3Client> | undefined;
  private readonly buckets = new Map<string, S3Storage>();
  private readonly lookup = publicOnlyLookup();

  constructor(opts: ImageSourceOptions) {
    this.storage = opts.storage;
    this.maxBytes = opts.maxBytes;
    this.fetchTimeoutMs = opts.fetchTimeoutMs;
    this.allowPrivate = opts.allowPrivate ?? false;
    this.maxRedirects = opts.maxRedirects ?? 3;
    this.s3Options = opts.s3 ?? {};
  }

  /** The image's bytes; throws JobError (IMAGE_NOT_FOUND, IMAGE_TOO_LARGE, FETCH_*). */
  async read(image: JobImage): Promise<Buffer> {
    switch (image.kind) {
      case 'stored':
        return this.fromStorage(this.storage, image.key, `stored image ${image.key}`);
      case 's3':
        return this.fromStorage(this.bucket(image.bucket), image.key, `s3://${image.bucket}/${image.key}`);
      case 'url':
        return this.fetch(image.url);
    }
  }

  private bucket(name: string): S3Storage {
    let storage = this.buckets.get(name);
    if (!storage) {
      this.s3Client ??= createS3Client(this.s3Options);
      storage = new S3Storage(this.s3Client, name);
      this.buckets.set(name, storage);
    }
    return storage;
  }

  private async fromStorage(storage: ObjectStorage, key: string, what: string): Promise<Buffer> {
    let obj;
    try {
      obj = await storage.get(key, { maxBytes: this.maxBytes });
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      if (err.code === 'TOO_LARGE') throw new JobError('IMAGE_TOO_LARGE', `${what}: ${err.message}`, false, { cause: err });
      if (err.code === 'INVALID_KEY') throw new JobError('BAD_INPUT', `${what}: ${err.message}`, false, { cause: err });
      throw new JobError(err.transient ? 'FETCH_FAILED' : 'IMAGE_NOT_FOUND', `${what}: ${err.message}`, err.transient, { cause: err });
    }
    if (!obj) throw new JobError('IMAGE_NOT_FOUND', `${what} does not exist`);
    return obj.body;
  }

  private async fetch(url: string): Promise<Buffer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.fetchTimeoutMs);
    try {
      let current = url;
      for (let hop = 0; ; hop++) {
        const res = await this.get(current, controller.signal);
        if (!('redirect' in res)) return res.body;
        if (hop >= this.maxRedirects) {
          throw new JobError('FETCH_FAILED', `${url}: more than ${this.maxRedirects} redirects`);
        }
        current = res.redirect;
      }
    } catch (err) {
      if (controller.signal.aborted) {
        throw new JobError('FETCH_FAILED', `${url}: no complete response within ${this.fetchTimeoutMs} ms`, true, { cause: err });
      }
      if (err instanceof JobError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const transient = TRANSIENT_NET_CODES.has(code);
      throw new JobError('FETCH_FAILED', `${url}: ${(err as Error).message}`, transient, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Checks a URL before it is requested: scheme, and the host when it is a literal address. */
  private check(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new JobError('FETCH_FAILED', `${JSON.stringify(raw)} is not a URL`);
    }
    const scheme = url.protocol;
    if (scheme !== 'https:' && !(scheme === 'http:' && this.allowPrivate)) {
      throw new JobError('FETCH_REFUSED', `${url.origin}: only https:// images can be fetched`);
    }
    if (url.username || url.password) throw new JobError('FETCH_REFUSED', `${url.host}: URLs with credentials are not fetched`);
    // A literal address skips name lookup: check it here. (The URL parser already turned forms
    // like `0x7f.1` or `2130706433` into dotted quads.)
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.allowPrivate && isIP(host) && !isPublicAddress(host)) throw refused(url.host, host);
    return url;
  }

  /** One request: the body, or where a redirect points. */
  private get(raw: string, signal: AbortSignal): Promise<{ body: Buffer } | { redirect: string }> {
    const url = this.check(raw);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          signal,
          // A new connection per fetch: a pooled socket could have been opened by other code
          // without the address check.
          agent: false,
          headers: { accept: 'image/*', 'user-agent': 'blip-jobs-worker' },
          ...(this.allowPrivate ? {} : { lookup: this.lookup }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (REDIRECTS.has(status) && res.headers.location) {
            res.resume();
            resolve({ redirect: new URL(res.headers.location, url).href });
            return;
          }
          if (status < 200 || status >= 300) {
            res.resume();
            const transient = status >= 500 || status === 408 || status === 429;
            const code = status === 404 || status === 410 ? 'IMAGE_NOT_FOUND' : 'FETCH_FAILED';
            reject(new JobError(code, `${url.href}: HTTP ${status}`, transient));
            return;
          }
          const declared = Number(res.headers['content-length']);
          if (declared > this.maxBytes) {
            res.destroy();
            reject(new JobError('IMAGE_TOO_LARGE', `${url.href}: ${declared} bytes, over the limit of ${this.maxBytes}`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxBytes) {
              res.destroy();
              reject(new JobError('IMAGE_TOO_LARGE', `${url.href}: more than ${this.maxBytes} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve({ body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}
