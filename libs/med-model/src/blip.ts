/**
 * `Blip`: the public API. Every task runs in a worker thread (engine-worker.ts) that owns the
 * onnxruntime sessions, so inference never blocks the caller's event loop (onnxruntime-node's
 * `session.run()` computes on the calling thread). Inputs travel as transferred ArrayBuffers
 * (by default the caller's own buffers, which the call detaches: see `transferInputs`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  AnswerGenerateOptions,
  AnswerRankOptions,
  Caption,
  EngineOptions,
  GeneratedAnswer,
  MatchOptions,
  MatchPair,
  MatchResult,
  Question,
  ScoredAnswer,
} from './engine.js';
import type {
  PreprocessLimits,
  WireCaptionOptions,
  WireError,
  WireImages,
  WorkerInit,
  WorkerMessage,
  WorkerRequest,
} from './engine-worker.js';
import type { TaskName } from './manifest.js';
import {
  RetrievalError,
  packEmbeddings,
  rerankHits,
  retrieveSettings,
  type GalleryEmbeddings,
  type ItcHit,
  type RetrievalHit,
  type RetrieveOptions,
} from './retrieve.js';

/** Encoded image files (JPEG, PNG, ... as image.ts reads them), or pixels [count, 3, S, S]. */
export type ImageInput = readonly Uint8Array[] | { pixels: Float32Array; count: number };

export interface BlipOpenOptions extends EngineOptions {
  /** Passed to image.ts `preprocess` for encoded images. */
  preprocessLimits?: PreprocessLimits;
  /**
   * Transfer input arrays to the worker instead of copying them (default true): the caller's
   * pixel / image-byte arrays are detached by the call. Copying a large pixel batch costs
   * main-thread time (page faults included); set false to keep the inputs usable.
   */
  transferInputs?: boolean;
}

/** A retrieval gallery: n images' ITC embeddings (`embedImages`) and, to re-rank, the images. */
export interface Gallery {
  /** One normalised ITC embedding per image, or all of them packed [n × embedDim]. */
  embeddings: GalleryEmbeddings;
  /** The same n images in the same order (encoded files, or pixels at the match task's size); needed to re-rank. */
  images?: ImageInput;
}

/** Caption options; `uniforms` is a recorded stream of U[0,1) numbers consumed in order. */
export type BlipCaptionOptions = WireCaptionOptions;

export class BlipWorkerError extends Error {
  readonly code: string | undefined;
  constructor(e: WireError) {
    super(e.message);
    this.name = e.name;
    this.code = e.code;
    if (e.stack) this.stack = e.stack;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** file: URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from `from`. */
function tsxEsmApi(from: string): string {
  const require = createRequire(from);
  let pkgFile: string;
  try {
    pkgFile = require.resolve('tsx/package.json');
  } catch (cause) {
    throw new Error('running Blip from TypeScript sources needs the "tsx" package (npm install -D tsx)', { cause });
  }
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
    exports: Record<string, { import?: string | { default?: string } }>;
  };
  const target = pkg.exports['./esm/api']?.import;
  const rel = typeof target === 'string' ? target : target?.default;
  if (!rel) throw new Error(`${pkgFile} has no "./esm/api" import export`);
  return pathToFileURL(path.join(path.dirname(pkgFile), rel)).href;
}

function workerEntry(init: WorkerInit): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from TypeScript sources (vitest, tsx): let tsx compile the worker's module graph.
    const tsxApi = tsxEsmApi(here);
    const entry = new URL('./engine-worker.ts', here).href;
    const boot = `
      const { workerData } = require('node:worker_threads');
      import(workerData.tsxApi)
        .then((api) => api.tsImport(workerData.entry, workerData.entry))
        .catch((err) => { process.nextTick(() => { throw err; }); });`;
    return new Worker(boot, { eval: true, workerData: { ...init, tsxApi, entry } });
  }
  return new Worker(new URL('./engine-worker.js', here), { workerData: init });
}

/**
 * The typed array to send and what to transfer: a view spanning its whole ArrayBuffer is
 * transferred as is when `transfer` is set (the caller's array is detached); otherwise (or for a
 * view into a larger or pooled buffer) it is copied first and the copy is transferred.
 * SharedArrayBuffer-backed arrays are sent as they are (shared, not copied).
 */
function sendable<T extends Uint8Array | Float32Array>(a: T, transfer: boolean, list: ArrayBuffer[]): T {
  if (!(a.buffer instanceof ArrayBuffer)) return a;
  if (transfer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !list.includes(a.buffer)) {
    list.push(a.buffer);
    return a;
  }
  // Not `a.slice()`: on a Node Buffer that is a view of the same memory, not a copy.
  const copy = (a instanceof Float32Array ? new Float32Array(a) : new Uint8Array(a)) as T;
  list.push(copy.buffer as ArrayBuffer);
  return copy;
}

function wireImages(images: ImageInput, transfer: boolean): { images: WireImages; transfer: ArrayBuffer[] } {
  const list: ArrayBuffer[] = [];
  if (Array.isArray(images)) {
    const bytes = (images as readonly Uint8Array[]).map((b) => sendable(b, transfer, list));
    return { images: { kind: 'bytes', images: bytes }, transfer: list };
  }
  const { pixels, count } = images as { pixels: Float32Array; count: number };
  return { images: { kind: 'pixels', pixels: sendable(pixels, transfer, list), count }, transfer: list };
}

export class Blip {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;
  private failure: Error | undefined;
  private readonly failureListeners: Array<(err: Error) => void> = [];

  private constructor(
    private readonly worker: Worker,
    private readonly transferInputs: boolean,
    /** The manifest version ({name}@{hash}) the worker loaded. */
    readonly version: string,
    /** S per task. */
    readonly imageSizes: Partial<Record<TaskName, number>>,
    /** Width of the ITC embeddings; undefined for caption-only models. */
    readonly embedDim: number | undefined,
  ) {
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type !== 'result' && msg.type !== 'error') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'result') p.resolve(msg.result);
      else p.reject(new BlipWorkerError(msg.error));
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the BLIP worker exited (code ${code})`)));
  }

  /** Starts the worker thread and loads the model directory in it. */
  static async open(modelDir: string, opts: BlipOpenOptions = {}): Promise<Blip> {
    const { preprocessLimits, transferInputs, ...engineOptions } = opts;
    const init: WorkerInit = {
      modelDir,
      options: { ...engineOptions, ...(preprocessLimits === undefined ? {} : { preprocessLimits }) },
    };
    const worker = workerEntry(init);
    const ready = await new Promise<Extract<WorkerMessage, { type: 'ready' }>>((resolve, reject) => {
      const onMessage = (msg: WorkerMessage) => {
        if (msg.type === 'ready') {
          cleanup();
          resolve(msg);
        } else if (msg.type === 'init-error') {
          cleanup();
          reject(new BlipWorkerError(msg.error));
        }
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`the BLIP worker exited (code ${code}) before loading ${modelDir}`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new Blip(worker, transferInputs ?? true, ready.version, ready.imageSizes, ready.embedDim);
  }

  /**
   * Why the worker thread stopped serving (it died or threw) while this Blip was open; every
   * call then rejects with this error. Undefined while healthy, and after a normal close().
   */
  get failed(): Error | undefined {
    return this.closed ? undefined : this.failure;
  }

  /**
   * Calls `listener` once if the worker thread dies or throws while open (not on close()), so
   * the owner can stop taking work: every later call would reject.
   */
  onFailure(listener: (err: Error) => void): void {
    if (this.failed) listener(this.failed);
    else this.failureListeners.push(listener);
  }

  private fail(err: Error): void {
    const first = this.failure === undefined;
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    if (first && !this.closed) for (const listener of this.failureListeners.splice(0)) listener(err);
  }

  private request<T>(req: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error('Blip is closed'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id } as WorkerRequest, transfer);
    });
  }

  /** Captions per image (see BlipEngine.caption). */
  caption(images: ImageInput, opts: BlipCaptionOptions = {}): Promise<Caption[][]> {
    const w = wireImages(images, this.transferInputs);
    const o: WireCaptionOptions = { ...opts, ...(opts.uniforms ? { uniforms: [...opts.uniforms] } : {}) };
    return this.request({ op: 'caption', images: w.images, opts: o }, w.transfer);
  }

  answer(images: ImageInput, questions: readonly Question[], opts: AnswerGenerateOptions): Promise<GeneratedAnswer[]>;
  answer(images: ImageInput, questions: readonly Question[], opts: AnswerRankOptions): Promise<ScoredAnswer[][]>;
  answer(
    images: ImageInput,
    questions: readonly Question[],
    opts: AnswerGenerateOptions | AnswerRankOptions,
  ): Promise<GeneratedAnswer[] | ScoredAnswer[][]> {
    const w = wireImages(images, this.transferInputs);
    const o = opts.mode === 'rank' ? { ...opts, candidates: [...opts.candidates] } : { ...opts };
    return this.request({ op: 'answer', images: w.images, questions: questions.map((q) => ({ ...q })), opts: o }, w.transfer);
  }

  /** ITM probability and ITC cosine per (image index, text) pair. */
  match(images: ImageInput, pairs: readonly MatchPair[], opts: MatchOptions = {}): Promise<MatchResult[]> {
    const w = wireImages(images, this.transferInputs);
    return this.request({ op: 'match', images: w.images, pairs: pairs.map((p) => ({ ...p })), opts: { ...opts } }, w.transfer);
  }

  embedImages(images: ImageInput): Promise<Float32Array[]> {
    const w = wireImages(images, this.transferInputs);
    return this.request({ op: 'embedImages', images: w.images }, w.transfer);
  }

  embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    return this.request({ op: 'embedTexts', texts: [...texts] });
  }

  /**
   * The gallery images that best match `query`, best first (retrieve.ts): ranked by ITC over the
   * gallery's embeddings, the best `opts.rerank` re-scored itm + itc. Ranking runs in the worker.
   * The gallery is never detached: its embeddings are copied to the worker (a packed array on a
   * SharedArrayBuffer is shared instead), and only the images to re-rank are sent, as copies.
   */
  async retrieve(query: string, gallery: Gallery, opts: RetrieveOptions = {}): Promise<RetrievalHit[]> {
    const { topK, rerank } = retrieveSettings(opts);
    const dim = this.embedDim;
    if (dim === undefined) throw new RetrievalError('UNSUPPORTED', `${this.version} has no ITC embeddings (no text_unimodal graph)`);
    const packed = packEmbeddings(gallery.embeddings, dim);
    const n = packed.length / dim;
    const images = rerank > 0 ? this.galleryImages(gallery.images, n) : undefined;
    if (n === 0) return [];

    const transfer: ArrayBuffer[] = [];
    // A packed copy made above is ours to transfer; the caller's own packed array is copied.
    const sent = sendable(packed, packed !== gallery.embeddings, transfer);
    const ranked = await this.request<ItcHit[]>({ op: 'rank', query, gallery: sent, k: Math.max(topK, rerank) }, transfer);
    if (!images) return rerankHits(ranked, [], topK);

    const candidates = ranked.slice(0, rerank);
    const w = this.pickImages(images, candidates.map((c) => c.index));
    const pairs = candidates.map((_, i) => ({ image: i, text: query }));
    const logits = await this.request<Array<[number, number]>>({ op: 'itm', images: w.images, pairs, opts: {} }, w.transfer);
    return rerankHits(ranked, logits.map((l) => l[1]), topK);
  }

  /** The gallery's n images, checked: re-ranking needs them and the ITM head. */
  private galleryImages(images: ImageInput | undefined, n: number): ImageInput {
    const S = this.imageSizes.match;
    if (S === undefined) throw new RetrievalError('UNSUPPORTED', `${this.version} has no "match" task: re-ranking needs its ITM head`);
    if (!images) throw new RetrievalError('RERANK_NEEDS_IMAGES', 'rerank > 0 needs gallery.images: the ITM head looks at the pixels');
    if (Array.isArray(images)) {
      const count = (images as readonly Uint8Array[]).length;
      if (count !== n) throw new RetrievalError('GALLERY_SIZE', `the gallery has ${n} embeddings but ${count} images`);
      return images;
    }
    const { pixels, count } = images as { pixels: Float32Array; count: number };
    if (count !== n) throw new RetrievalError('GALLERY_SIZE', `the gallery has ${n} embeddings but ${count} images`);
    if (pixels.length !== count * 3 * S * S) {
      throw new RetrievalError('GALLERY_SIZE', `gallery pixels hold ${pixels.length} values, expected ${count} × 3 × ${S} × ${S}`);
    }
    return images;
  }

  /** Copies of the gallery images at `indices` (the caller's arrays stay attached). */
  private pickImages(images: ImageInput, indices: readonly number[]): { images: WireImages; transfer: ArrayBuffer[] } {
    if (Array.isArray(images)) {
      const files = images as readonly Uint8Array[];
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- indices come from ranking this gallery
      return wireImages(indices.map((i) => files[i]!), false);
    }
    const { pixels, count } = images as { pixels: Float32Array; count: number };
    const per = pixels.length / count;
    const picked = new Float32Array(indices.length * per);
    indices.forEach((g, i) => picked.set(pixels.subarray(g * per, (g + 1) * per), i * per));
    return wireImages({ pixels: picked, count: indices.length }, true);
  }

  /** Releases the sessions and terminates the worker. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.request({ op: 'close' });
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }
}
