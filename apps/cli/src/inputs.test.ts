import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors.js';
import { expandInputs, imageContentType, readImageRecords } from './inputs.js';

let dir: string;
const at = (...p: string[]) => path.join(dir, ...p);
const file = (img: { source: { kind: string; path?: string; uri?: string } }) => img.source.path ?? img.source.uri;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'blip-cli-inputs-'));
  for (const f of ['a.png', 'b.JPG', 'notes.txt', 'sub/c.webp', 'sub/readme.md', 'sub/deep/d.png', 'sub/deep/e.jpeg']) {
    mkdirSync(path.dirname(at(f)), { recursive: true });
    writeFileSync(at(f), 'x');
  }
  writeFileSync(
    at('sub', 'manifest.jsonl'),
    ['{"image": "c.webp", "id": 1}', '', '{"image": "s3://bucket/key.png"}', '{"image": "https://example.com/x.jpg"}', '{"image": "deep/d.png"}'].join('\n'),
  );
  writeFileSync(at('missing.jsonl'), '{"image": "a.png"}\n{"image": "nope.png"}\n');
  writeFileSync(at('broken.jsonl'), '{"image": "a.png"}\n{"image": \n');
  writeFileSync(at('noimage.jsonl'), '{"picture": "a.png"}\n');
  writeFileSync(at('pairs.jsonl'), '{"image": "a.png", "text": "a red square"}\n{"image": "s3://b/k.png", "text": "two"}\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function usageError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).exitCode).toBe(ExitCode.usage);
  return (err as CliError).message;
}

describe('expandInputs', () => {
  it('takes image files as given and skips, counting, files that are not images', async () => {
    const { images, skipped } = await expandInputs([at('a.png'), at('b.JPG'), at('notes.txt')]);
    expect(images.map((i) => i.input)).toEqual([at('a.png'), at('b.JPG')]);
    expect(images.map(file)).toEqual([at('a.png'), at('b.JPG')]);
    expect(skipped).toBe(1);
  });

  it('walks directories recursively in name order, keeping images only', async () => {
    const { images, skipped } = await expandInputs([dir]);
    expect(images.map((i) => i.input)).toEqual([at('a.png'), at('b.JPG'), at('sub/c.webp'), at('sub/deep/d.png'), at('sub/deep/e.jpeg')]);
    // notes.txt, sub/readme.md, and the .jsonl files (only a manifest when named as an argument)
    expect(skipped).toBe(7);
  });

  it('expands glob patterns the shell left alone', async () => {
    expect((await expandInputs([`${dir}/**/*.png`])).images.map((i) => i.input)).toEqual([at('a.png'), at('sub/deep/d.png')]);
    expect((await expandInputs([`${dir}/*.{png,JPG}`])).images.map((i) => i.input)).toEqual([at('a.png'), at('b.JPG')]);
    const sub = await expandInputs([`${dir}/sub/*`]);
    expect(sub.images.map((i) => i.input)).toEqual([at('sub/c.webp')]);
    expect(sub.skipped).toBe(2);
    expect(await usageError(expandInputs([`${dir}/*.gif`]))).toBe(`${dir}/*.gif: no files match`);
  });

  it('reads a manifest: paths relative to it, URIs passed through, inputs as written', async () => {
    const { images, skipped } = await expandInputs([at('sub', 'manifest.jsonl')]);
    expect(skipped).toBe(0);
    expect(images.map((i) => i.input)).toEqual(['c.webp', 's3://bucket/key.png', 'https://example.com/x.jpg', 'deep/d.png']);
    expect(images.map((i) => i.source)).toEqual([
      { kind: 'file', path: at('sub/c.webp') },
      { kind: 'uri', uri: 's3://bucket/key.png' },
      { kind: 'uri', uri: 'https://example.com/x.jpg' },
      { kind: 'file', path: at('sub/deep/d.png') },
    ]);
  });

  it('names the manifest line of a bad entry', async () => {
    expect(await usageError(expandInputs([at('missing.jsonl')]))).toBe(`${at('missing.jsonl')}:2: nope.png: no such file`);
    expect(await usageError(expandInputs([at('broken.jsonl')]))).toBe(`${at('broken.jsonl')}:2: not valid JSON`);
    expect(await usageError(expandInputs([at('noimage.jsonl')]))).toBe(`${at('noimage.jsonl')}:1: needs "image" (a string)`);
  });

  it('passes s3:// and https:// URIs through without touching the file system', async () => {
    const { images } = await expandInputs(['s3://bucket/a/b.png', 'https://example.com/c.jpg']);
    expect(images).toEqual([
      { input: 's3://bucket/a/b.png', source: { kind: 'uri', uri: 's3://bucket/a/b.png' } },
      { input: 'https://example.com/c.jpg', source: { kind: 'uri', uri: 'https://example.com/c.jpg' } },
    ]);
  });

  it('refuses a path that does not exist', async () => {
    expect(await usageError(expandInputs([at('nope.png')]))).toBe(`${at('nope.png')}: no such file or directory`);
  });
});

describe('readImageRecords', () => {
  it('reads the named string fields with the image', async () => {
    const pairs = await readImageRecords(at('pairs.jsonl'), ['text']);
    expect(pairs).toEqual([
      { image: 'a.png', text: 'a red square', source: { kind: 'file', path: at('a.png') } },
      { image: 's3://b/k.png', text: 'two', source: { kind: 'uri', uri: 's3://b/k.png' } },
    ]);
    expect(await usageError(readImageRecords(at('sub', 'manifest.jsonl'), ['text']))).toBe(`${at('sub', 'manifest.jsonl')}:1: needs "text" (a string)`);
  });
});

it('knows the content type of each image extension', () => {
  expect(imageContentType('x/y.PNG')).toBe('image/png');
  expect(imageContentType('y.jpeg')).toBe('image/jpeg');
  expect(imageContentType('y.txt')).toBeUndefined();
});
