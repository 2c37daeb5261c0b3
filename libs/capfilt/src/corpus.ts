/**
 * Corpus shards as users already have them, read into samples and written back:
 * - WebDataset tar shards as img2dataset writes them: `{key}.jpg|png|webp` + `{key}.txt` +
 *   optional `{key}.json`, members of one sample adjacent.
 * - JSONL manifests: one `{"id", "image", "text"}` per line, `image` a URI (`s3://bucket/key`)
 *   or a key relative to the manifest's directory in the same storage.
 * Malformed members are counted, never fatal to the shard.
 */
export type ShardFormat = 'webdataset' | 'jsonl';

/** The format of a shard from its name; null for files that are not shards. */
export function shardFormat(name: string): ShardFormat | null {
  if (name.endsWith('.tar')) return 'webdataset';
  if (name.endsWith('.jsonl')) return 'jsonl';
  return null;
}

export type ImageRef = { kind: 'bytes'; bytes: Uint8Array; ext: string } | { kind: 'uri'; uri: string };

export interface CorpusSample {
  key: string;
  image: ImageRef;
  text: string;
  /** The sample's `.json` member (WebDataset) or the manifest line (JSONL), kept in the output. */
  meta: Record<string, unknown>;
}

export interface MalformedCounts {
  missingImage: number;
  unreadableImage: number;
  missingText: number;
}

export const emptyMalformed = (): MalformedCounts => ({ missingImage: 0, unreadableImage: 0, missingText: 0 });

export type TextSource = 'web' | 'synthetic';

/** A text CapFilt kept for an image, tagged with where it came from and its ITM score. */
export interface KeptText {
  text: string;
  source: TextSource;
  itm: number;
}

export interface OutputSample {
  sample: CorpusSample;
  /** Best first. */
  kept: KeptText[];
}

export interface ParsedShard {
  samples: CorpusSample[];
  malformed: MalformedCounts;
}
