import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStorage } from './file-storage.js';
import type { ObjectStorage } from './object-storage.js';
import { S3Storage, createS3Client, type S3ClientOptions } from './s3-storage.js';

export interface S3Location {
  bucket: string;
  key: string;
}

/** `s3://bucket/key/...` → { bucket, key }; null for anything else. */
export function parseS3Uri(uri: string): S3Location | null {
  const [, bucket, key] = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri) ?? [];
  if (bucket === undefined) return null;
  return { bucket, key: (key ?? '').replace(/\/+$/, '') };
}

/**
 * Opens a storage location: `s3://bucket[/prefix]` (S3 with `s3` client options) or a local
 * directory (`file:///abs/dir`, `file:rel/dir` or a plain path, resolved against `cwd`).
 */
export function openStorage(location: string, s3: S3ClientOptions = {}, cwd = process.cwd()): ObjectStorage {
  if (location.startsWith('s3://')) {
    const loc = parseS3Uri(location);
    if (!loc) throw new Error(`invalid S3 location ${JSON.stringify(location)}: expected s3://bucket[/prefix]`);
    return new S3Storage(createS3Client(s3), loc.bucket, loc.key);
  }
  let dir = location;
  if (location.startsWith('file://')) dir = fileURLToPath(location);
  else if (location.startsWith('file:')) dir = location.slice('file:'.length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new Error(`unsupported storage location ${JSON.stringify(location)}: use s3://bucket[/prefix] or a directory`);
  }
  return new FileStorage(path.resolve(cwd, dir));
}
