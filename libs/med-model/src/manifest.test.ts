import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelDirectoryError, type ModelDirectoryErrorCode } from './errors.js';
import { decodeTensor, encodeTensor } from './fixtures.js';
import { checkGraphSignature, loadManifest, parseManifest, type ModelManifest } from './manifest.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const FILES: Record<string, Buffer> = {
  'vision.onnx': Buffer.from('not really onnx: structure only'),
  'weights.bin': Buffer.alloc(4096, 7),
  'vocab.txt': Buffer.from(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[DEC]', '[ENC]', 'a', '##b'].join('\n')),
  'fixtures/roundtrip.json': Buffer.from('{}'),
};

function makeManifest(): Record<string, unknown> {
  return {
    format: 'blip-jobs/model@1',
    name: 'toy',
    version: 'toy@0123456789ab',
    source: { checkpoint: 'toy.pth', layout: 'trained-here' },
    architecture: {
      vision: { image_size: 32, patch_size: 16, width: 8, depth: 1, heads: 2, num_tokens: 5 },
      text: { hidden: 8, layers: 1, heads: 2, intermediate: 16, vocab_size: 9, max_position: 40 },
      embed_dim: 4,
    },
    preprocess: { resize: 'bicubic', mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
    tokenizer: {
      vocab: 'vocab.txt',
      lowercase: true,
      max_text_length: 35,
      special_tokens: { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4, dec: 5, enc: 6 },
    },
    tasks: { embed: { image_size: 32, graphs: { vision: 'vision' }, normalize: true } },
    graphs: {
      vision: {
        file: 'vision.onnx',
        inputs: [{ name: 'pixel_values', dtype: 'float32', shape: ['B', 3, 32, 32] }],
        outputs: [
          { name: 'image_embeds', dtype: 'float32', shape: ['B', 5, 8] },
          { name: 'image_itc', dtype: 'float32', shape: ['B', 4] },
        ],
      },
    },
    files: Object.fromEntries(Object.entries(FILES).map(([f, b]) => [f, { sha256: sha(b), bytes: b.length }])),
    opset: 17,
    dtype: 'float32',
  };
}

let dir: string;

async function writeDir(manifest: unknown): Promise<void> {
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

async function expectError(
  promise: Promise<unknown>,
  code: ModelDirectoryErrorCode,
  ...mentions: (string | RegExp)[]
): Promise<ModelDirectoryError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ModelDirectoryError ${code}, but it resolved`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelDirectoryError);
  const mde = err as ModelDirectoryError;
  expect(mde.code, mde.message).toBe(code);
  for (const m of mentions) expect(mde.message).toMatch(m);
  return mde;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'med-model-manifest-'));
  await mkdir(path.join(dir, 'fixtures'));
  for (const [f, b] of Object.entries(FILES)) await writeFile(path.join(dir, f), b);
  await writeDir(makeManifest());
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadManifest', () => {
  it('loads a valid directory and keeps task settings', async () => {
    const m = await loadManifest(dir);
    expect(m.version).toBe('toy@0123456789ab');
    expect(m.tasks.embed?.graphs.vision).toBe('vision');
    expect(m.tasks.embed?.['normalize']).toBe(true);
    expect(m.graphs['vision']?.inputs[0]?.shape).toEqual(['B', 3, 32, 32]);
  });

  it('reports a listed file that is missing', async () => {
    await unlink(path.join(dir, 'weights.bin'));
    const err = await expectError(loadManifest(dir), 'FILE_MISSING', /weights\.bin/);
    expect(err.file).toBe('weights.bin');
  });

  it('reports a missing manifest.json', async () => {
    await unlink(path.join(dir, 'manifest.json'));
    await expectError(loadManifest(dir), 'FILE_MISSING', /manifest\.json/);
  });

  it('reports a wrong checksum with expected and found digests', async () => {
    const wrong = Buffer.alloc(4096, 8); // same size, other content
    await writeFile(path.join(dir, 'weights.bin'), wrong);
    const err = await expectError(
      loadManifest(dir),
      'CHECKSUM_MISMATCH',
      /weights\.bin/,
      new RegExp(`expected sha256 ${sha(FILES['weights.bin']!)}`),
      new RegExp(`found ${sha(wrong)}`),
    );
    expect(err.found).toBe(sha(wrong));
    // Sizes still match, so skipping checksums lets it through.
    await expect(loadManifest(dir, { verifyChecksums: false })).resolves.toBeDefined();
  });

  it('reports a wrong byte count, even without checksum verification', async () => {
    await writeFile(path.join(dir, 'vocab.txt'), 'short');
    const n = FILES['vocab.txt']!.length;
    await expectError(
      loadManifest(dir, { verifyChecksums: false }),
      'CHECKSUM_MISMATCH',
      /vocab\.txt/,
      new RegExp(`expected ${n} bytes`),
      /found 5/,
    );
  });

  it('reports a task naming an unknown graph', async () => {
    const m = makeManifest();
    (m['tasks'] as Record<string, unknown>)['caption'] = {
      image_size: 32,
      graphs: { vision: 'vision', decoder: 'text_decoder' },
    };
    await writeDir(m);
    const err = await expectError(loadManifest(dir), 'MANIFEST_INVALID', /tasks\.caption\.graphs\.decoder/, /text_decoder/);
    expect(err.field).toBe('tasks.caption.graphs.decoder');
  });

  it('reports a graph file that files does not list', async () => {
    const m = makeManifest();
    (m['graphs'] as Record<string, { file: string }>)['vision']!.file = 'other.onnx';
    await writeDir(m);
    await expectError(loadManifest(dir), 'MANIFEST_INVALID', /graphs\.vision\.file/, /other\.onnx/);
  });

  it.each([
    ['format', (m: Record<string, any>) => (m['format'] = 'blip-jobs/model@2'), /format/],
    ['opset as string', (m: Record<string, any>) => (m['opset'] = '17'), /opset/],
    ['preprocess.resize', (m: Record<string, any>) => (m['preprocess'].resize = 'bilinear'), /preprocess\.resize/],
    ['tensor dtype', (m: Record<string, any>) => (m['graphs'].vision.inputs[0].dtype = 'float64'), /graphs\.vision\.inputs\.0\.dtype/],
    ['unknown task', (m: Record<string, any>) => (m['tasks'].retrieve = { image_size: 32, graphs: {} }), /tasks/],
    ['file escaping the directory', (m: Record<string, any>) => (m['files']['../x'] = { sha256: 'a'.repeat(64), bytes: 1 }), /files\["\.\.\/x"\]: invalid key: must be a relative path/],
    ['sha256 format', (m: Record<string, any>) => (m['files']['vocab.txt'].sha256 = 'XYZ'), /files\.vocab\.txt\.sha256/],
    ['version not of name', (m: Record<string, any>) => (m['version'] = 'other@0123456789ab'), /version/],
    ['num_tokens', (m: Record<string, any>) => (m['architecture'].vision.num_tokens = 4), /num_tokens.*expected 1 \+ \(image_size\/patch_size\)\^2 = 5, found 4/],
  ])('reports an invalid field: %s', async (_label, mutate, mention) => {
    const m = makeManifest();
    mutate(m);
    await writeDir(m);
    await expectError(loadManifest(dir), 'MANIFEST_INVALID', mention);
  });

  it('reports manifest.json that is not JSON', async () => {
    await writeFile(path.join(dir, 'manifest.json'), '{"format": ');
    await expectError(loadManifest(dir), 'MANIFEST_INVALID', /not JSON/);
  });
});

describe('checkGraphSignature', () => {
  const manifest = () => parseManifest(makeManifest()) as ModelManifest;

  it('accepts the same names in any order', () => {
    expect(() =>
      checkGraphSignature(manifest(), 'vision', {
        inputNames: ['pixel_values'],
        outputNames: ['image_itc', 'image_embeds'],
      }),
    ).not.toThrow();
  });

  it('names missing and unexpected inputs and outputs', () => {
    let err: unknown;
    try {
      checkGraphSignature(manifest(), 'vision', { inputNames: ['pixels'], outputNames: ['image_embeds', 'extra'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelDirectoryError);
    const mde = err as ModelDirectoryError;
    expect(mde.code).toBe('GRAPH_MISMATCH');
    expect(mde.message).toMatch(/missing inputs \[pixel_values\]/);
    expect(mde.message).toMatch(/unexpected inputs \[pixels\]/);
    expect(mde.message).toMatch(/missing outputs \[image_itc\]/);
    expect(mde.message).toMatch(/unexpected outputs \[extra\]/);
  });

  it('rejects an unknown graph name', () => {
    expect(() => checkGraphSignature(manifest(), 'decoder', { inputNames: [], outputNames: [] })).toThrow(
      /GRAPH_MISMATCH.*"decoder"/,
    );
  });
});

describe('decodeTensor', () => {
  it('decodes little-endian float32 and int64 and round-trips encodeTensor', () => {
    const f = Buffer.alloc(8);
    f.writeFloatLE(1.5, 0);
    f.writeFloatLE(-2, 4);
    const ft = decodeTensor({ dtype: 'float32', shape: [1, 2], b64: f.toString('base64') });
    expect(ft.shape).toEqual([1, 2]);
    expect(Array.from(ft.data as Float32Array)).toEqual([1.5, -2]);

    const i = Buffer.alloc(16);
    i.writeBigInt64LE(30522n, 0);
    i.writeBigInt64LE(-1n, 8);
    const it64 = decodeTensor({ dtype: 'int64', shape: [2], b64: i.toString('base64') });
    expect(Array.from(it64.data as BigInt64Array)).toEqual([30522n, -1n]);
    expect(encodeTensor(it64).b64).toBe(i.toString('base64'));
  });

  it('rejects a byte count that does not match the shape', () => {
    expect(() => decodeTensor({ dtype: 'float32', shape: [3], b64: Buffer.alloc(8).toString('base64') })).toThrow(
      /expected 12 bytes, found 8/,
    );
  });
});
