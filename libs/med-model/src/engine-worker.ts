/**
 * The worker thread behind `Blip` (blip.ts): creates a BlipEngine, preprocesses images and runs
 * requests one at a time, so that inference never blocks the main event loop.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */
import { parentPort, workerData } from 'node:worker_threads';
import {
  BlipEngine,
  type AnswerGenerateOptions,
  type AnswerRankOptions,
  type CaptionOptions,
  type EngineOptions,
  type MatchOptions,
  type MatchPair,
  type Question,
} from './engine.js';
import { preprocess } from './image.js';
import type { TaskName } from './manifest.js';

export type PreprocessLimits = Parameters<typeof preprocess>[3];

/** Images as sent to the worker: encoded files, or pixels [count, 3, S, S] already preprocessed. */
export type WireImages = { kind: 'bytes'; images: Uint8Array[] } | { kind: 'pixels'; pixels: Float32Array; count: number };

export interface WorkerInit {
  modelDir: string;
  options: EngineOptions & { preprocessLimits?: PreprocessLimits };
}

export type WireCaptionOptions = Omit<CaptionOptions, 'uniforms'> & { uniforms?: number[] };

export type WorkerRequest =
  | { id: number; op: 'caption'; images: WireImages; opts: WireCaptionOptions }
  | {
      id: number;
      op: 'answer';
      images: WireImages;
      questions: Question[];
      opts: AnswerGenerateOptions | AnswerRankOptions;
    }
  | { id: number; op: 'match'; images: WireImages; pairs: MatchPair[]; opts: MatchOptions }
  | { id: number; op: 'embedImages'; images: WireImages }
  | { id: number; op: 'embedTexts'; texts: string[] }
  /** Retrieval, step 1: the best `k` of a packed gallery by ITC (Blip.retrieve). */
  | { id: number; op: 'rank'; query: string; gallery: Float32Array; k: number }
  /** Retrieval, step 2: raw ITM logits of the candidates to re-rank. */
  | { id: number; op: 'itm'; images: WireImages; pairs: MatchPair[]; opts: MatchOptions }
  | { id: number; op: 'close' };

export interface WireError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export type WorkerMessage =
  | { type: 'ready'; version: string; imageSizes: Partial<Record<TaskName, number>>; embedDim: number | undefined }
  | { type: 'init-error'; error: WireError }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: WireError };

function wireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      message: err.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(err.stack ? { stack: err.stack } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}

/** ArrayBuffers of the typed arrays in a result, to transfer instead of copying. */
function transferables(value: unknown, out: ArrayBuffer[] = []): ArrayBuffer[] {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && !out.includes(value.buffer)) out.push(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out);
  }
  return out;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('engine-worker must run in a worker thread');
  const init = workerData as WorkerInit;
  const post = (msg: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

  let engine: BlipEngine;
  try {
    const { preprocessLimits: _limits, ...engineOptions } = init.options;
    engine = await BlipEngine.load(init.modelDir, engineOptions);
  } catch (err) {
    post({ type: 'init-error', error: wireError(err) });
    return;
  }
  const imageSizes: Partial<Record<TaskName, number>> = {};
  for (const task of Object.keys(engine.manifest.tasks) as TaskName[]) imageSizes[task] = engine.imageSize(task);

  const pixelsFor = async (task: TaskName, images: WireImages): Promise<{ pixels: Float32Array; count: number }> => {
    if (images.kind === 'pixels') return { pixels: images.pixels, count: images.count };
    const S = engine.imageSize(task);
    const per = 3 * S * S;
    const pixels = new Float32Array(images.images.length * per);
    for (let i = 0; i < images.images.length; i++) {
      pixels.set(await preprocess(images.images[i]!, S, engine.manifest.preprocess, init.options.preprocessLimits), i * per);
    }
    return { pixels, count: images.images.length };
  };

  const handle = async (req: WorkerRequest): Promise<unknown> => {
    switch (req.op) {
      case 'caption': {
        const { pixels, count } = await pixelsFor('caption', req.images);
        const { uniforms: stream, ...rest } = req.opts;
        const opts: CaptionOptions = rest;
        if (stream) {
          let pos = 0;
          opts.uniforms = (rows) => {
            if (pos + rows > stream.length) {
              throw new Error(`the uniforms stream (${stream.length} numbers) is exhausted at ${pos} (+${rows} needed)`);
            }
            pos += rows;
            return stream.slice(pos - rows, pos);
          };
        }
        return engine.caption(pixels, count, opts);
      }
      case 'answer': {
        const { pixels } = await pixelsFor('vqa', req.images);
        return req.opts.mode === 'rank'
          ? engine.answer(pixels, req.questions, req.opts)
          : engine.answer(pixels, req.questions, req.opts);
      }
      case 'match': {
        const { pixels } = await pixelsFor('match', req.images);
        return engine.match(pixels, req.pairs, req.opts);
      }
      case 'embedImages': {
        const task: TaskName = engine.manifest.tasks.embed ? 'embed' : 'match';
        const { pixels, count } = await pixelsFor(task, req.images);
        return engine.embedImages(pixels, count);
      }
      case 'embedTexts':
        return engine.embedTexts(req.texts);
      case 'rank':
        return engine.rankGallery(req.query, req.gallery, req.k);
      case 'itm': {
        const { pixels } = await pixelsFor('match', req.images);
        return engine.itmLogits(pixels, req.pairs, req.opts);
      }
      case 'close':
        await engine.release();
        return null;
    }
  };

  // One request at a time, in arrival order.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (req: WorkerRequest) => {
    queue = queue.then(async () => {
      try {
        const result = await handle(req);
        post({ type: 'result', id: req.id, result }, transferables(result));
      } catch (err) {
        post({ type: 'error', id: req.id, error: wireError(err) });
      }
    });
  });
  post({ type: 'ready', version: engine.version, imageSizes, embedDim: engine.embedDim });
}

void main();
