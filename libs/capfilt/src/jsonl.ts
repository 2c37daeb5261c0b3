import { emptyMalformed, type CorpusSample, type OutputSample, type ParsedShard } from './corpus.js';

/** Reads a JSONL manifest (`{"id", "image", "text"}` per line); bad lines count as malformed. */
export function readJsonl(bytes: Uint8Array): ParsedShard {
  const malformed = emptyMalformed();
  const samples: CorpusSample[] = [];
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').split('\n');
  lines.forEach((line, n) => {
    if (!line.trim()) return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      malformed.missingText++;
      return;
    }
    const image = typeof row['image'] === 'string' ? row['image'].trim() : '';
    const text = typeof row['text'] === 'string' ? row['text'].trim() : '';
    if (!image) return void malformed.missingImage++;
    if (!text) return void malformed.missingText++;
    const key = typeof row['id'] === 'string' || typeof row['id'] === 'number' ? String(row['id']) : `line-${n + 1}`;
    samples.push({ key, image: { kind: 'uri', uri: image }, text, meta: row });
  });
  return { samples, malformed };
}

/** One line per kept (image, text): the input line's fields, `text` replaced, plus `source` and `itm`. */
export function writeJsonl(out: readonly OutputSample[]): Buffer {
  const lines: string[] = [];
  for (const { sample, kept } of out) {
    for (const k of kept) lines.push(JSON.stringify({ ...sample.meta, id: sample.key, text: k.text, source: k.source, itm: k.itm }));
  }
  return Buffer.from(lines.length ? `${lines.join('\n')}\n` : '');
}
