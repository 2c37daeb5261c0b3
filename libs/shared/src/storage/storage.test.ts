import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3rverProcess } from '../testing/s3rver-process.js';
import { FileStorage, S3Storage, StorageError, createS3Client, openStorage, parseS3Uri, type ObjectStorage } from './index.js';

// The same behaviour from both backends: files in a temp dir, and S3 over HTTP (s3rver).
let s3rver: S3rverProcess;
let dir: string;
const backends: Record<string, () => ObjectStorage> = {
  file: () => new FileStorage(dir),
  s3: () => new S3Storage(createS3Client(s3rver.s3), 'test-bucket', 'some/prefix'),
};

beforeAll(async () => {
  s3rver = await startS3rver(['test-bucket']);
  dir = await mkdtemp(path.join(tmpdir(), 'storage-'));
}, 30_000);

afterAll(async () => {
  await s3rver?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe.each(Object.keys(backends))('%s storage', (name) => {
  it('puts, gets, heads, lists and deletes', async () => {
    const st = backends[name]!();
    const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    await st.put('a/b/blob.bin', body);
    await st.put('a/c.json', '{"x":1}', { contentType: 'application/json' });
    await st.put('z.txt', 'z');
    expect((await st.get('a/b/blob.bin'))!.body.equals(body)).toBe(true);
    expect(await st.head('a/b/blob.bin')).toEqual({ size: 70_000 });
    expect(await st.list('a/')).toEqual(['a/b/blob.bin', 'a/c.json']);
    expect(await st.list('a/b')).toEqual(['a/b/blob.bin']);
    await st.delete('a/c.json');
    expect(await st.get('a/c.json')).toBeNull();
    expect(await st.head('a/c.json')).toBeNull();
    await st.delete('a/c.json'); // deleting nothing is not an error
  });

  it('overwrites whole objects', async () => {
    const st = backends[name]!();
    await st.put('o.txt', 'first version, longer');
    await st.put('o.txt', 'second');
    expect((await st.get('o.txt'))!.body.toString()).toBe('second');
  });

  it('refuses keys that could escape the root', async () => {
    const st = backends[name]!();
    for (const key of ['../x', 'a/../../x', '/abs', 'a//b', '', 'a/./b', 'sp ace']) {
      await expect(st.put(key, 'x')).rejects.toMatchObject({ name: 'StorageError', code: 'INVALID_KEY' });
    }
  });

  it('refuses objects over maxBytes as TOO_LARGE, permanently', async () => {
    const st = backends[name]!();
    await st.put('big.bin', Buffer.alloc(5000));
    const err = (await st.get('big.bin', { maxBytes: 4999 }).catch((e: unknown) => e)) as StorageError;
    expect(err).toBeInstanceOf(StorageError);
    expect(err.code).toBe('TOO_LARGE');
    expect(err.transient).toBe(false);
    expect((await st.get('big.bin', { maxBytes: 5000 }))!.body.length).toBe(5000);
  });
});

describe('presigned uploads', () => {
  it('S3 URLs accept a plain PUT without credentials', async () => {
    const st = backends['s3']!();
    const url = await st.presignPut('uploads/t/1.png', 60);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/test-bucket\/some\/prefix\/uploads\/t\/1\.png\?/);
    const res = await fetch(url!, { method: 'PUT', body: 'png bytes' });
    expect(res.status).toBe(200);
    expect((await st.get('uploads/t/1.png'))!.body.toString()).toBe('png bytes');
  });

  it('the filesystem has none (the API signs its own)', async () => {
    expect(await backends['file']!().presignPut('x', 60)).toBeNull();
  });
});

describe('openStorage', () => {
  it('opens S3 and directory locations', () => {
    expect(openStorage('s3://my-bucket/pre/fix', s3rver.s3).url).toBe('s3://my-bucket/pre/fix');
    expect(openStorage('file:data', {}, '/srv').url).toBe('file:///srv/data');
    expect(openStorage('/var/lib/blip').url).toBe('file:///var/lib/blip');
    expect(() => openStorage('gs://bucket')).toThrow(/unsupported storage location/);
    expect(parseS3Uri('s3://b-1/k/x.png')).toEqual({ bucket: 'b-1', key: 'k/x.png' });
    expect(parseS3Uri('https://b/k')).toBeNull();
  });
});
