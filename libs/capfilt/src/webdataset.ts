import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { emptyMalformed, type CorpusSample, type OutputSample, type ParsedShard } from './corpus.js';

const IMAGE_EXTS = ['jpg', 'jpeg', 'png', 'webp'];

/** Splits `dir/000123.jpg` into key `dir/000123` and extension `jpg` (WebDataset: the first dot of the basename). */
function splitMember(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot < 0 ? { key: name, ext: '' } : { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/** Reads a WebDataset tar shard into samples (in archive order). */
export async function readWebDataset(tar: Uint8Array): Promise<ParsedShard> {
  const members = new Map<string, Map<string, Buffer>>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') {
          const { key, ext } = splitMember(header.name);
          const parts = members.get(key) ?? new Map<string, Buffer>();
          parts.set(ext, Buffer.concat(chunks));
          members.set(key, parts);
        }
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength)]).pipe(ex);
  await done;

  const malformed = emptyMalformed();
  const samples: CorpusSample[] = [];
  for (const [key, parts] of members) {
    const ext = IMAGE_EXTS.find((e) => parts.has(e));
    const image = ext === undefined ? undefined : parts.get(ext);
    const text = parts.get('txt')?.toString('utf8').trim();
    if (ext === undefined || !image) {
      malformed.missingImage++;
      continue;
    }
    if (!text) {
      malformed.missingText++;
      continue;
    }
    let meta: Record<string, unknown> = {};
    const json = parts.get('json');
    if (json) {
      try {
        meta = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
      } catch {
        meta = {};
      }
    }
    samples.push({ key, image: { kind: 'bytes', bytes: image, ext }, text, meta });
  }
  return { samples, malformed };
}

/**
 * Writes kept samples as a WebDataset shard: the image, `.txt` with the best kept text, `.json`
 * with the input's metadata plus `capfilt.texts` (every kept text with its source and ITM
 * score). Headers carry no time or owner, so the same samples always give the same bytes.
 */
export async function writeWebDataset(out: readonly OutputSample[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  const entry = (name: string, body: Buffer) =>
    new Promise<void>((resolve, reject) =>
      p.entry({ name, size: body.length, mtime: new Date(0), mode: 0o644, uid: 0, gid: 0, uname: '', gname: '' }, body, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  for (const { sample, kept } of out) {
    if (sample.image.kind !== 'bytes') throw new Error(`sample ${sample.key}: WebDataset output needs the image bytes`);
    const best = kept[0];
    if (!best) throw new Error(`sample ${sample.key}: only samples with a kept text are written`);
    await entry(`${sample.key}.${sample.image.ext}`, Buffer.from(sample.image.bytes));
    await entry(`${sample.key}.txt`, Buffer.from(best.text));
    await entry(`${sample.key}.json`, Buffer.from(JSON.stringify({ ...sample.meta, capfilt: { texts: kept } })));
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}
