import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStorage } from '@blip-jobs/shared/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageSource, isPublicAddress } from './image-source.js';
import { JobError } from './job-error.js';

let dir: string;
let storage: FileStorage;
let server: http.Server;
let base: string;

/** Local test server: /ok/{n} n bytes, /slow never finishes, /status/{code}, /redirect/{n} n hops to /ok/10. */
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'image-source-'));
  storage = new FileStorage(dir);
  server = http.createServer((req, res) => {
    const [, route, arg] = (req.url ?? '').split('/');
    const n = Number(arg);
    if (route === 'ok') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': n });
      res.end(Buffer.alloc(n, 7));
    } else if (route === 'chunked') {
      // No content-length: the limit must be enforced while reading.
      res.writeHead(200, { 'content-type': 'image/png' });
      for (let i = 0; i < n; i++) res.write(Buffer.alloc(1000, 1));
      res.end();
    } else if (route === 'slow') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(Buffer.alloc(10));
    } else if (route === 'status') {
      res.writeHead(n);
      res.end();
    } else if (route === 'redirect') {
      res.writeHead(302, { location: n > 0 ? `/redirect/${n - 1}` : '/ok/10' });
      res.end();
    } else if (route === 'redirect-ftp') {
      res.writeHead(301, { location: 'ftp://example.com/x.png' });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

function source(opts: { allowPrivate?: boolean; maxBytes?: number; fetchTimeoutMs?: number } = {}): ImageSource {
  return new ImageSource({ storage, maxBytes: opts.maxBytes ?? 1000, fetchTimeoutMs: opts.fetchTimeoutMs ?? 5000, allowPrivate: opts.allowPrivate ?? false });
}

async function failure(p: Promise<unknown>): Promise<JobError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(JobError);
  return err as JobError;
}

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1', '127.1.2.3', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.169.254',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:169.254.169.254', '::ffff:10.1.2.3', '64:ff9b::a00:1', 'not-an-ip',
  ])('refuses %s', (a) => expect(isPublicAddress(a)).toBe(false));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (a) =>
    expect(isPublicAddress(a)).toBe(true),
  );
});

describe('ImageSource: URL fetches', () => {
  it.each([
    'https://127.0.0.1/x',
    'https://10.0.0.1/x',
    'https://169.254.169.254/latest',
    'https://[::1]/',
    'https://[::ffff:127.0.0.1]/x',
    'https://2130706433/x', // 127.0.0.1 as one number
    'https://0x7f.1/x',
  ])('refuses %s (a literal private address) without connecting', async (url) => {
    const err = await failure(source().read({ kind: 'url', url }));
    expect(err.code).toBe('FETCH_REFUSED');
    expect(err.transient).toBe(false);
  });

  it('refuses a host name that resolves to loopback', async () => {
    const err = await failure(source().read({ kind: 'url', url: 'https://localhost/x.png' }));
    expect(err.code).toBe('FETCH_REFUSED');
    expect(err.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
  });

  it('refuses http:// unless private fetches are allowed', async () => {
    const err = await failure(source().read({ kind: 'url', url: `${base}/ok/10` }));
    expect(err.code).toBe('FETCH_REFUSED');
    expect(err.message).toMatch(/only https/);
    expect((await source({ allowPrivate: true }).read({ kind: 'url', url: `${base}/ok/10` })).length).toBe(10);
  });

  it('enforces the byte limit, declared or streamed', async () => {
    const s = source({ allowPrivate: true, maxBytes: 5000 });
    expect((await s.read({ kind: 'url', url: `${base}/ok/5000` })).length).toBe(5000);
    for (const url of [`${base}/ok/5001`, `${base}/chunked/50`]) {
      const err = await failure(s.read({ kind: 'url', url }));
      expect(err.code).toBe('IMAGE_TOO_LARGE');
      expect(err.transient).toBe(false);
    }
  });

  it('gives up after the time limit, as a transient failure', async () => {
    const t0 = Date.now();
    const err = await failure(source({ allowPrivate: true, fetchTimeoutMs: 300 }).read({ kind: 'url', url: `${base}/slow` }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.code).toBe('FETCH_FAILED');
    expect(err.transient).toBe(true);
    expect(err.message).toMatch(/300 ms/);
  });

  it('tells transient from permanent HTTP failures', async () => {
    const s = source({ allowPrivate: true });
    const cases: [number, string, boolean][] = [
      [404, 'IMAGE_NOT_FOUND', false],
      [403, 'FETCH_FAILED', false],
      [429, 'FETCH_FAILED', true],
      [503, 'FETCH_FAILED', true],
    ];
    for (const [status, code, transient] of cases) {
      const err = await failure(s.read({ kind: 'url', url: `${base}/status/${status}` }));
      expect([status, err.code, err.transient]).toEqual([status, code, transient]);
    }
  });

  it('follows at most 3 redirects and checks each target', async () => {
    const s = source({ allowPrivate: true });
    expect((await s.read({ kind: 'url', url: `${base}/redirect/2` })).length).toBe(10); // 3 hops
    const tooMany = await failure(s.read({ kind: 'url', url: `${base}/redirect/3` }));
    expect(tooMany.code).toBe('FETCH_FAILED');
    expect(tooMany.message).toMatch(/more than 3 redirects/);
    const ftp = await failure(s.read({ kind: 'url', url: `${base}/redirect-ftp` }));
    expect(ftp.code).toBe('FETCH_REFUSED');
  });
});

describe('ImageSource: stored images', () => {
  it('reads stored objects within the byte limit', async () => {
    await storage.put('uploads/t/a.png', Buffer.alloc(1000, 3));
    await storage.put('uploads/t/big.png', Buffer.alloc(1001, 3));
    const s = source();
    expect((await s.read({ kind: 'stored', key: 'uploads/t/a.png' })).equals(Buffer.alloc(1000, 3))).toBe(true);
    expect((await failure(s.read({ kind: 'stored', key: 'uploads/t/big.png' }))).code).toBe('IMAGE_TOO_LARGE');
    expect((await failure(s.read({ kind: 'stored', key: 'uploads/t/none.png' }))).code).toBe('IMAGE_NOT_FOUND');
  });
});
