/**
 * resolveModelDir against a real S3-protocol server (s3rver), reached through a proxy that
 * records every GET: the bundled tiny model uploaded under s3://models/tiny/ resolves to a cached
 * directory that captions like the local one; a second resolve reads only manifest.json;
 * concurrent resolves share one download; a corrupted or missing object fails with
 * CHECKSUM_MISMATCH / FILE_MISSING and leaves no complete directory.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { S3Storage, createS3Client, type S3ClientOptions } from '@blip-jobs/shared/storage';
import { startS3rver, type S3rverProcess } from '@blip-jobs/shared/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Blip } from './blip.js';
import { isModelDirectoryError, type ModelDirectoryError } from './errors.js';
import type { ModelManifest } from './manifest.js';
import { resolveModelDir } from './model-source.js';
import { REPO_ROOT } from './test-model.js';

const LOCAL = path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');
const manifest = JSON.parse(readFileSync(path.join(LOCAL, 'manifest.json'), 'utf8')) as ModelManifest;
const listed = Object.keys(manifest.files).sort();
const CORRUPTED = 'text_image.onnx';
const MISSING = 'vocab.txt';

/** An HTTP proxy in front of s3rver that records the path of every GET (SigV4 signs the Host, which passes through). */
async function recordingProxy(target: string): Promise<{ endpoint: string; gets: string[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const gets: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') gets.push(decodeURIComponent(new URL(req.url ?? '/', 'http://proxy').pathname));
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', (err) => res.destroy(err));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    gets,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort();
}

/** `error` from a promise expected to reject. */
async function rejection(p: Promise<unknown>): Promise<ModelDirectoryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isModelDirectoryError(err)) throw new Error(`expected a ModelDirectoryError, got ${String(err)}`);
  return err;
}

describe('resolveModelDir', () => {
  let s3rver: S3rverProcess;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let s3: S3ClientOptions;
  let tmp: string;
  const versionDir = manifest.version; // "name@hash": already file-name safe

  beforeAll(async () => {
    s3rver = await startS3rver(['models']);
    proxy = await recordingProxy(s3rver.endpoint);
    s3 = { ...s3rver.s3, endpoint: proxy.endpoint };
    tmp = await mkdtemp(path.join(tmpdir(), 'model-source-'));

    const upload = async (prefix: string, edit: (file: string, body: Buffer) => Buffer | null) => {
      const storage = new S3Storage(createS3Client(s3rver.s3), 'models', prefix);
      for (const file of await filesUnder(LOCAL)) {
        const body = edit(file, await readFile(path.join(LOCAL, file)));
        if (body) await storage.put(file, body);
      }
      storage.client.destroy();
    };
    await upload('tiny', (_, body) => body);
    await upload('corrupt', (file, body) => {
      if (file !== CORRUPTED) return body;
      const changed = Buffer.from(body);
      changed[changed.length >> 1]! ^= 0x01;
      return changed;
    });
    await upload('missing', (file, body) => (file === MISSING ? null : body));
  });

  afterAll(async () => {
    await proxy?.close();
    await s3rver?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  beforeEach(() => {
    proxy.gets.length = 0;
  });

  it('returns local paths and file: URLs resolved, as they are', async () => {
    const cacheDir = path.join(tmp, 'unused');
    expect(await resolveModelDir('models/blip-tiny-shapes', { cacheDir })).toBe(path.resolve('models/blip-tiny-shapes'));
    expect(await resolveModelDir(pathToFileURL(LOCAL).href, { cacheDir })).toBe(LOCAL);
    expect(existsSync(cacheDir)).toBe(false);
    expect(proxy.gets).toEqual([]);
  });

  it('downloads s3://models/tiny once; the copy captions like the local directory', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const dir = await resolveModelDir('s3://models/tiny', { cacheDir, s3 });
    expect(dir).toBe(path.join(cacheDir, versionDir));
    // Only the files the manifest lists (no fixtures, logs), and nothing left half-written.
    expect(await filesUnder(dir)).toEqual([...listed, 'manifest.json'].sort());
    expect(proxy.gets.sort()).toEqual(['/models/tiny/manifest.json', ...listed.map((f) => `/models/tiny/${f}`)].sort());

    const image = readFileSync(path.join(REPO_ROOT, 'datasets', 'shapes-samples', 'sample-00.png'));
    const caption = async (modelDir: string) => {
      const blip = await Blip.open(modelDir, { intraOpNumThreads: 1 });
      try {
        return await blip.caption([new Uint8Array(image)]);
      } finally {
        await blip.close();
      }
    };
    const [remote, local] = [await caption(dir), await caption(LOCAL)];
    expect(remote[0]![0]!.text.length).toBeGreaterThan(0);
    expect(remote).toEqual(local);

    // Second resolve: the cached copy; only manifest.json is read.
    proxy.gets.length = 0;
    const before = (await stat(path.join(dir, 'weights.bin'))).mtimeMs;
    expect(await resolveModelDir('s3://models/tiny/', { cacheDir, s3 })).toBe(dir);
    expect(proxy.gets).toEqual(['/models/tiny/manifest.json']);
    expect((await stat(path.join(dir, 'weights.bin'))).mtimeMs).toBe(before);
  });

  it('shares one download between concurrent calls', async () => {
    const cacheDir = path.join(tmp, 'concurrent');
    const dirs = await Promise.all([1, 2, 3].map(() => resolveModelDir('s3://models/tiny', { cacheDir, s3 })));
    expect(new Set(dirs)).toEqual(new Set([path.join(cacheDir, versionDir)]));
    expect(proxy.gets).toHaveLength(1 + listed.length);
  });

  it('refuses a corrupted object (CHECKSUM_MISMATCH) and leaves no complete directory; a retry reuses the checked files', async () => {
    const cacheDir = path.join(tmp, 'corrupt');
    const err = await rejection(resolveModelDir('s3://models/corrupt', { cacheDir, s3 }));
    const expected = manifest.files[CORRUPTED]!.sha256;
    const body = Buffer.from(readFileSync(path.join(LOCAL, CORRUPTED)));
    body[body.length >> 1]! ^= 0x01;
    const found = createHash('sha256').update(body).digest('hex');
    expect(err.code).toBe('CHECKSUM_MISMATCH');
    expect(err.file).toBe(CORRUPTED);
    expect(err.expected).toBe(expected);
    expect(err.found).toBe(found);
    expect(err.message).toContain(`s3://models/corrupt/${CORRUPTED}`);
    expect(err.message).toContain(expected);
    expect(err.message).toContain(found);

    const dir = path.join(cacheDir, versionDir);
    const left = await filesUnder(dir);
    expect(left).not.toContain('manifest.json');
    expect(left).not.toContain(CORRUPTED);
    expect(left.filter((f) => f.endsWith('.partial'))).toEqual([]);

    // Repaired upstream: only what is not already checked on disk is downloaded.
    const storage = new S3Storage(createS3Client(s3rver.s3), 'models', 'corrupt');
    await storage.put(CORRUPTED, readFileSync(path.join(LOCAL, CORRUPTED)));
    storage.client.destroy();
    proxy.gets.length = 0;
    expect(await resolveModelDir('s3://models/corrupt', { cacheDir, s3 })).toBe(dir);
    const fetched = proxy.gets.map((g) => g.replace('/models/corrupt/', '')).sort();
    expect(fetched).toEqual(['manifest.json', ...listed.filter((f) => !left.includes(f))].sort());
  });

  it('names a missing object (FILE_MISSING) and leaves no complete directory', async () => {
    const cacheDir = path.join(tmp, 'missing');
    const err = await rejection(resolveModelDir('s3://models/missing', { cacheDir, s3 }));
    expect(err.code).toBe('FILE_MISSING');
    expect(err.file).toBe(MISSING);
    expect(err.message).toContain(`s3://models/missing/${MISSING}`);
    expect(existsSync(path.join(cacheDir, versionDir, 'manifest.json'))).toBe(false);

    const none = await rejection(resolveModelDir('s3://models/nothing-here', { cacheDir, s3 }));
    expect(none.code).toBe('FILE_MISSING');
    expect(none.message).toContain('s3://models/nothing-here/manifest.json');
  });

  it('refuses a cached copy of the same version with another manifest', async () => {
    const cacheDir = path.join(tmp, 'stale');
    const dir = await resolveModelDir('s3://models/tiny', { cacheDir, s3 });
    await writeFile(path.join(dir, 'manifest.json'), `${await readFile(path.join(dir, 'manifest.json'), 'utf8')}\n`);
    const err = await rejection(resolveModelDir('s3://models/tiny', { cacheDir, s3 }));
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.message).toMatch(/differs from the cached manifest of the same version/);
  });
});
