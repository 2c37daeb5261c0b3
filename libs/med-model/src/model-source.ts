/**
 * Where a model directory comes from: a local path, or an `s3://bucket/prefix` location that is
 * downloaded once into a cache directory named after the manifest's version. Every downloaded
 * file is sha256-checked against the manifest before it takes its name, and the manifest itself
 * is written last: a directory with a manifest.json is complete, so a crash mid-download never
 * leaves one that looks complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  FileStorage,
  S3Storage,
  StorageError,
  checkKey,
  joinKey,
  openStorage,
  type S3ClientOptions,
} from '@blip-jobs/shared/storage';
import { ModelDirectoryError } from './errors.js';
import { MANIFEST_FILE, parseManifest, sha256File, type ModelManifest } from './manifest.js';

export interface ResolveModelDirOptions {
  /** Directory that holds downloaded models, one sub-directory per manifest version. */
  cacheDir: string;
  /** S3 client options for s3:// locations (default: AWS in us-east-1, the SDK's credential chain). */
  s3?: S3ClientOptions;
}

/** A manifest is a few KB; refuse anything absurd before parsing it. */
const MAX_MANIFEST_BYTES = 16 << 20;

/** Resolutions in flight in this process, by cache directory and location: concurrent calls share one. */
const inflight = new Map<string, Promise<string>>();

/**
 * The local model directory for `location`: a path or `file:` URL is returned resolved, as is
 * (loading the manifest verifies it). An `s3://bucket/prefix` location is read on every call
 * (its manifest.json, one small GET: the location may be republished) and its files are
 * downloaded into `{cacheDir}/{version}/` unless a complete copy of that version is already there.
 *
 * Throws ModelDirectoryError: FILE_MISSING (manifest.json or a listed object does not exist),
 * MANIFEST_INVALID (also when the cached copy of the same version has another manifest),
 * CHECKSUM_MISMATCH (a downloaded object has another size or sha256 than its manifest entry);
 * StorageError for S3 faults.
 */
export async function resolveModelDir(location: string, opts: ResolveModelDirOptions): Promise<string> {
  const cacheDir = path.resolve(opts.cacheDir);
  const key = `${cacheDir}\n${location}`;
  const running = inflight.get(key);
  if (running) return running;

  const storage = openStorage(location, opts.s3);
  if (storage instanceof FileStorage) return storage.root;
  if (!(storage instanceof S3Storage)) throw new TypeError(`unsupported model location ${JSON.stringify(location)}`);
  const job = syncFromS3(storage, cacheDir).finally(() => {
    inflight.delete(key);
    storage.client.destroy();
  });
  inflight.set(key, job);
  return job;
}

/** The cache sub-directory of a version: `name@hash` is already file-name safe; anything else becomes `_`. */
function versionDir(cacheDir: string, manifest: ModelManifest): string {
  return path.join(cacheDir, manifest.version.replace(/[^A-Za-z0-9._@-]/g, '_'));
}

async function syncFromS3(storage: S3Storage, cacheDir: string): Promise<string> {
  const manifestUrl = `${storage.url}/${MANIFEST_FILE}`;
  const object = await storage.get(MANIFEST_FILE, { maxBytes: MAX_MANIFEST_BYTES });
  if (!object) {
    throw new ModelDirectoryError('FILE_MISSING', `${manifestUrl} does not exist`, { dir: storage.url, file: MANIFEST_FILE });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(object.body.toString('utf8'));
  } catch (cause) {
    throw new ModelDirectoryError('MANIFEST_INVALID', `${manifestUrl} is not JSON: ${(cause as Error).message}`, {
      dir: storage.url,
      file: MANIFEST_FILE,
      cause,
    });
  }
  const manifest = parseManifest(raw, storage.url);
  const dir = versionDir(cacheDir, manifest);
  if (await isComplete(dir, object.body, manifestUrl)) return dir;

  await mkdir(dir, { recursive: true });
  for (const [file, entry] of Object.entries(manifest.files)) {
    await fetchFile(storage, dir, file, entry);
  }
  // Last: the manifest marks the directory complete.
  await writeAtomically(path.join(dir, MANIFEST_FILE), object.body);
  return dir;
}

/**
 * True when `dir` holds a complete copy (its manifest.json exists). A cached manifest with other
 * bytes under the same version is refused: a version must name one model (results pin it).
 */
async function isComplete(dir: string, manifestBytes: Buffer, manifestUrl: string): Promise<boolean> {
  let cached: Buffer;
  try {
    cached = await readFile(path.join(dir, MANIFEST_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (!cached.equals(manifestBytes)) {
    throw new ModelDirectoryError(
      'MANIFEST_INVALID',
      `${manifestUrl} differs from the cached manifest of the same version in ${dir}: ` +
        'publish a changed model under a new version, or delete the cached directory',
      { dir, file: MANIFEST_FILE },
    );
  }
  return true;
}

async function writeAtomically(target: string, body: Uint8Array): Promise<void> {
  const tmp = tempName(target);
  try {
    await writeFile(tmp, body);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** A unique name beside `target`, so concurrent downloaders (other processes) never share one. */
function tempName(target: string): string {
  return `${target}.${randomBytes(6).toString('hex')}.partial`;
}

/** Downloads one listed file to a temporary name, checks it, then gives it its name. */
async function fetchFile(
  storage: S3Storage,
  dir: string,
  file: string,
  entry: { sha256: string; bytes: number },
): Promise<void> {
  const target = path.join(dir, ...file.split('/'));
  // A file only gets its name once checked: one from an interrupted download is reused.
  if (await matches(target, entry)) return;
  await mkdir(path.dirname(target), { recursive: true });
  const where = `s3://${storage.bucket}/${objectKey(storage, file)}`;
  const details = { dir: storage.url, file };
  const tmp = tempName(target);
  try {
    const found = await download(storage, file, tmp);
    if (found.bytes !== entry.bytes) {
      throw new ModelDirectoryError('CHECKSUM_MISMATCH', `${where}: expected ${entry.bytes} bytes (files.${file}.bytes), found ${found.bytes}`, {
        ...details,
        field: `files.${file}.bytes`,
        expected: entry.bytes,
        found: found.bytes,
      });
    }
    if (found.sha256 !== entry.sha256) {
      throw new ModelDirectoryError(
        'CHECKSUM_MISMATCH',
        `${where}: expected sha256 ${entry.sha256} (files.${file}.sha256), found ${found.sha256}`,
        { ...details, field: `files.${file}.sha256`, expected: entry.sha256, found: found.sha256 },
      );
    }
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function matches(file: string, entry: { sha256: string; bytes: number }): Promise<boolean> {
  try {
    const st = await stat(file);
    return st.isFile() && st.size === entry.bytes && (await sha256File(file)) === entry.sha256;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function objectKey(storage: S3Storage, file: string): string {
  return joinKey(storage.prefix, checkKey(file));
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/**
 * Streams one object to `tmp`, hashing on the way: weights can be gigabytes, so this sends its
 * own GetObject (ObjectStorage.get buffers the whole object).
 */
async function download(storage: S3Storage, file: string, tmp: string): Promise<{ bytes: number; sha256: string }> {
  const key = objectKey(storage, file);
  const where = `s3://${storage.bucket}/${key}`;
  let body: unknown;
  try {
    body = (await storage.client.send(new GetObjectCommand({ Bucket: storage.bucket, Key: key }))).Body;
  } catch (err) {
    const status = httpStatus(err);
    if ((err as Error).name === 'NoSuchKey' || status === 404) {
      throw new ModelDirectoryError('FILE_MISSING', `${where} (listed in files) does not exist`, {
        dir: storage.url,
        file,
        field: `files.${file}`,
        cause: err,
      });
    }
    const transient = status === undefined || status >= 500 || status === 429;
    throw new StorageError('UNAVAILABLE', `get ${where}: ${(err as Error).message}`, transient, { cause: err });
  }
  // The SDK's Node HTTP handler returns the response as a Readable.
  if (!(body instanceof Readable)) throw new StorageError('UNAVAILABLE', `get ${where}: the response has no body stream`, true);

  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    body,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(tmp),
  );
  return { bytes, sha256: hash.digest('hex') };
}
