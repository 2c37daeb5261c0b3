import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StorageError, checkKey, type ObjectStorage, type PutOptions, type StoredObject } from './object-storage.js';

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * Objects as files under a root directory. A put writes a temporary file beside the target and
 * renames it over the target, so readers never see a partial object (rename is atomic on POSIX).
 * Content types are not kept.
 */
export class FileStorage implements ObjectStorage {
  readonly url: string;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.url = pathToFileURL(this.root).href;
  }

  private file(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: Uint8Array | string, _opts?: PutOptions): Promise<void> {
    const target = this.file(key);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, body);
      await rename(tmp, target);
    } catch (cause) {
      await rm(tmp, { force: true });
      throw new StorageError('UNAVAILABLE', `cannot write ${key} under ${this.root}: ${(cause as Error).message}`, true, { cause });
    }
  }

  async get(key: string, opts: { maxBytes?: number } = {}): Promise<StoredObject | null> {
    const file = this.file(key);
    try {
      if (opts.maxBytes !== undefined) {
        const { size } = await stat(file);
        if (size > opts.maxBytes) {
          throw new StorageError('TOO_LARGE', `${key} is ${size} bytes, over the limit of ${opts.maxBytes}`, false);
        }
      }
      return { body: await readFile(file), contentType: undefined };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const s = await stat(this.file(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(path.join(dir, e.name), key);
        else if (e.isFile() && !e.name.endsWith('.tmp') && key.startsWith(prefix)) out.push(key);
      }
    };
    // Walk from the deepest directory the prefix names completely.
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    await walk(base ? this.file(base) : this.root, base);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  async presignPut(_key: string, _expiresInS: number): Promise<string | null> {
    return null;
  }
}
