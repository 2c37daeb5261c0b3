/**
 * Image inputs as people name them, expanded to one image per entry: files, directories
 * (recursively), glob patterns, `s3://` and `https://` URIs (passed through for the workers to
 * fetch), and `.jsonl` manifests with `{"image": "<path or uri>"}` per line. Files found by walking
 * a directory or a pattern that are not images are skipped and counted, not sent to fail later.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CliError, ExitCode } from './errors.js';
import { globToRegExp, isGlob, splitGlob } from './glob.js';

export type ImageSource = { kind: 'file'; path: string } | { kind: 'uri'; uri: string };

export interface InputImage {
  /** As the user wrote it (argument, walked path, or manifest value): the `input` of each result line. */
  input: string;
  source: ImageSource;
}

export interface Expanded {
  images: InputImage[];
  /** Files in walked directories and matched patterns that are not images. */
  skipped: number;
}

/** The formats the workers decode (libs/med-model/src/image.ts), by extension. */
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.heic': 'image/heic',
  '.heif': 'image/heif',
  '.avif': 'image/avif',
};

/** References the API takes as they are; the API checks them and names the item when one is wrong. */
const URI = /^(s3:\/\/|https?:\/\/|upload:)/i;

export function imageContentType(file: string): string | undefined {
  return IMAGE_TYPES[path.extname(file).toLowerCase()];
}

async function statOrNull(p: string) {
  try {
    return await stat(p);
  } catch {
    return null;
  }
}

/** Files under `dir`, recursively, as `/`-separated paths relative to it, sorted for a stable order. */
async function walk(dir: string, rel = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const e of entries) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    // Links count as what they point to.
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await statOrNull(path.join(dir, child)))?.isDirectory() === true);
    if (isDir) files.push(...(await walk(dir, child)));
    else files.push(child);
  }
  return files;
}

async function globFiles(pattern: string): Promise<string[]> {
  const { base, rest } = splitGlob(pattern);
  if (!(await statOrNull(base))?.isDirectory()) return [];
  const re = globToRegExp(rest);
  return (await walk(base)).filter((rel) => re.test(rel)).map((rel) => path.join(base, rel));
}

/** One reference: a URI as it is, or a local file (relative to `baseDir`) that must exist. */
export async function resolveImage(ref: string, baseDir = '.'): Promise<ImageSource> {
  if (URI.test(ref)) return { kind: 'uri', uri: ref };
  const file = path.resolve(baseDir, ref);
  if (!(await statOrNull(file))?.isFile()) throw new CliError(`${ref}: no such file`, ExitCode.usage);
  return { kind: 'file', path: file };
}

/** The objects of a JSON Lines file (blank lines skipped), with their line numbers for messages. */
async function readJsonl(file: string): Promise<{ line: number; value: unknown }[]> {
  const text = await readFile(file, 'utf8');
  const out: { line: number; value: unknown }[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    if (!raw.trim()) continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) });
    } catch {
      throw new CliError(`${file}:${i + 1}: not valid JSON`, ExitCode.usage);
    }
  }
  return out;
}

export type ImageRecord<K extends string> = { image: string; source: ImageSource } & Record<K, string>;

/**
 * The records of a JSON Lines file of images (`{"image": …}` plus the string `fields`), image paths
 * relative to the file's directory, as for a file next to it.
 */
export async function readImageRecords<K extends string>(file: string, fields: readonly K[]): Promise<ImageRecord<K>[]> {
  const dir = path.dirname(file);
  const records: ImageRecord<K>[] = [];
  for (const { line, value } of await readJsonl(file)) {
    const field = (name: string): string => {
      const v = (value as Record<string, unknown> | null)?.[name];
      if (typeof v !== 'string') throw new CliError(`${file}:${line}: needs "${name}" (a string)`, ExitCode.usage);
      return v;
    };
    const image = field('image');
    let source: ImageSource;
    try {
      source = await resolveImage(image, dir);
    } catch (err) {
      throw err instanceof CliError ? new CliError(`${file}:${line}: ${err.message}`, err.exitCode) : err;
    }
    records.push({ ...(Object.fromEntries(fields.map((f) => [f, field(f)])) as Record<K, string>), image, source });
  }
  return records;
}

export async function expandInputs(args: readonly string[]): Promise<Expanded> {
  const images: InputImage[] = [];
  let skipped = 0;
  const found = (file: string) => {
    if (imageContentType(file)) images.push({ input: file, source: { kind: 'file', path: path.resolve(file) } });
    else skipped++;
  };
  for (const arg of args) {
    if (URI.test(arg)) {
      images.push({ input: arg, source: { kind: 'uri', uri: arg } });
      continue;
    }
    const st = await statOrNull(arg);
    if (st?.isDirectory()) {
      for (const rel of await walk(arg)) found(path.join(arg, rel));
    } else if (st?.isFile()) {
      if (path.extname(arg).toLowerCase() === '.jsonl') images.push(...(await readImageRecords(arg, [])).map((r) => ({ input: r.image, source: r.source })));
      else found(arg);
    } else if (isGlob(arg)) {
      const matches = await globFiles(arg);
      if (matches.length === 0) throw new CliError(`${arg}: no files match`, ExitCode.usage);
      matches.forEach(found);
    } else {
      throw new CliError(`${arg}: no such file or directory`, ExitCode.usage);
    }
  }
  return { images, skipped };
}
