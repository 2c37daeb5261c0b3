/**
 * BlipEngine: every BLIP task on onnxruntime-node, in the thread that creates it (use `Blip`
 * from blip.ts to keep inference off the main event loop). It reproduces the PyTorch reference
 * (tools/blip-export/blip/pipeline.py): prompts, first tokens, text cleanup, which graph gets what.
 *
 * Methods take preprocessed pixels: a Float32Array [B, 3, S, S] (S = the task's image_size).
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { preCaption, preQuestion } from '@blip-jobs/shared';
import { OrtDecoderSession, computeCrossKV } from './decoder-session.js';
import { beamSearch, greedy, sample, type Generated } from './generation/search.js';
import { checkGraphSignature, graphPath, loadManifest, type ModelManifest, type TaskName, type TaskSpec } from './manifest.js';
import { rankByItc, type ItcHit } from './retrieve.js';
import { WordPieceTokenizer } from './tokenizer.js';
import { rankAnswers } from './vqa-rank.js';

export interface EngineOptions {
  /** onnxruntime intra-op threads per session (default: onnxruntime's choice). */
  intraOpNumThreads?: number;
  /** Execution providers, in order of preference (default ['cpu']; ['cuda', 'cpu'] on GPU hosts). */
  executionProviders?: string[];
  /** Verify the sha256 of every file listed in the manifest (default true). */
  verifyChecksums?: boolean;
}

export type CaptionMode = 'beam' | 'greedy' | 'nucleus';

export interface CaptionOptions {
  mode?: CaptionMode;
  /** Text the caption starts with (default: the manifest's tasks.caption.prompt); '' for none. */
  prompt?: string;
  numBeams?: number;
  /** Maximum length in tokens, counting [DEC] and the prompt. */
  maxLength?: number;
  /** Minimum length in tokens, counting [DEC] and the prompt (eos is banned below it). */
  minLength?: number;
  repetitionPenalty?: number;
  lengthPenalty?: number;
  /** Captions per image (beam: best hypotheses returned; nucleus: independent samples). */
  numCaptions?: number;
  topP?: number;
  topK?: number;
  temperature?: number;
  /** Nucleus: one U[0,1) number per row per step; rows image-major, finished rows included. */
  uniforms?: (rows: number) => number[];
  /** Nucleus without `uniforms`: seed of the mulberry32 stream (default 0). */
  seed?: number;
  /**
   * Nucleus without `uniforms`: one seed per image, each image's rows drawing from their own
   * mulberry32 stream, so an image's captions do not depend on the batch it runs in (CapFilt's
   * re-runs are identical whatever the micro-batching).
   */
  seeds?: readonly number[];
}

export interface Caption {
  /** Ids after the prompt, eos excluded. */
  tokens: number[];
  text: string;
  /** Beam: Σ log p / length (prompt counted); greedy/nucleus: Σ log p. */
  score: number;
}

export interface Question {
  /** Index of the image in the pixel batch. */
  image: number;
  question: string;
}

export interface AnswerGenerateOptions {
  mode: 'generate';
  numBeams?: number;
  maxLength?: number;
  minLength?: number;
}
export interface AnswerRankOptions {
  mode: 'rank';
  candidates: readonly string[];
  /** Candidates kept after the first-token step (default tasks.vqa.rank_k, else 128). */
  k?: number;
}
export interface GeneratedAnswer {
  answer: string;
  tokens: number[];
  score: number;
}
export interface ScoredAnswer {
  answer: string;
  score: number;
}

export interface MatchPair {
  image: number;
  text: string;
}
export interface MatchOptions {
  /** First token of the ITM text (default tasks.match.first_token, else 'enc'). */
  firstToken?: 'enc' | 'cls';
}
export interface MatchResult {
  /** softmax(itm_logits)[1]. */
  itm: number;
  /** Cosine of the L2-normalised ITC projections. */
  itc: number;
  /** The ITM head's raw logits [no match, match] (BLIP re-ranks retrieval by the second). */
  itmLogits: [number, number];
}

/** mulberry32: a small, seedable uniform PRNG in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function setting(task: TaskSpec | undefined, key: string): unknown {
  return task ? (task as Record<string, unknown>)[key] : undefined;
}
function numSetting(task: TaskSpec | undefined, key: string, fallback: number): number {
  const v = setting(task, key);
  return typeof v === 'number' ? v : fallback;
}

function softmax1(logits: ArrayLike<number>, offset: number, width: number, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < width; i++) max = Math.max(max, logits[offset + i]!);
  let sum = 0;
  for (let i = 0; i < width; i++) sum += Math.exp(logits[offset + i]! - max);
  return Math.exp(logits[offset + index]! - max) / sum;
}

/** Rows `rows` of a float32 tensor [R, ...] as a new tensor. */
function gather(t: ort.Tensor, rows: readonly number[]): ort.Tensor {
  const dims = [...t.dims];
  const src = t.data as Float32Array;
  const per = src.length / dims[0]!;
  const dst = new Float32Array(rows.length * per);
  rows.forEach((r, i) => dst.set(src.subarray(r * per, (r + 1) * per), i * per));
  dims[0] = rows.length;
  return new ort.Tensor('float32', dst, dims);
}

function rowsOf(t: ort.Tensor): Float32Array[] {
  const data = t.data as Float32Array;
  const R = t.dims[0]!;
  const per = data.length / R;
  return Array.from({ length: R }, (_, r) => data.slice(r * per, (r + 1) * per));
}

export class BlipEngine {
  private itcWidth: number | undefined;

  private constructor(
    readonly modelDir: string,
    readonly manifest: ModelManifest,
    readonly tokenizer: WordPieceTokenizer,
    private readonly sessions: Map<string, ort.InferenceSession>,
  ) {}

  /** Loads the manifest (checksums verified), the tokenizer and one session per graph. */
  static async load(modelDir: string, opts: EngineOptions = {}): Promise<BlipEngine> {
    const dir = path.resolve(modelDir);
    const manifest = await loadManifest(dir, { verifyChecksums: opts.verifyChecksums ?? true });
    const tokenizer = await WordPieceTokenizer.fromVocabFile(
      path.join(dir, manifest.tokenizer.vocab),
      manifest.tokenizer.special_tokens,
    );
    const decoders = new Set(
      Object.values(manifest.tasks).flatMap((t) => (t?.graphs.decoder ? [t.graphs.decoder] : [])),
    );
    const sessions = new Map<string, ort.InferenceSession>();
    try {
      for (const graphName of Object.keys(manifest.graphs)) {
        const options: ort.InferenceSession.SessionOptions = {
          graphOptimizationLevel: 'all',
          executionProviders: opts.executionProviders ?? ['cpu'],
          // The decoder sees a new past length at every step: memory patterns would only grow.
          enableMemPattern: !decoders.has(graphName),
        };
        if (opts.intraOpNumThreads !== undefined) options.intraOpNumThreads = opts.intraOpNumThreads;
        const session = await ort.InferenceSession.create(graphPath(dir, manifest, graphName), options);
        sessions.set(graphName, session);
        checkGraphSignature(manifest, graphName, session);
      }
    } catch (err) {
      for (const s of sessions.values()) await s.release();
      throw err;
    }
    const engine = new BlipEngine(dir, manifest, tokenizer, sessions);
    try {
      engine.itcWidth = await engine.measureItcWidth();
    } catch (err) {
      await engine.release();
      throw err;
    }
    return engine;
  }

  get version(): string {
    return this.manifest.version;
  }

  /** The image size S a task expects its pixels at. */
  imageSize(task: TaskName): number {
    return this.task(task).image_size;
  }

  private task(name: TaskName): TaskSpec {
    const t = this.manifest.tasks[name];
    if (!t) throw new Error(`${this.manifest.version} has no "${name}" task (has: ${Object.keys(this.manifest.tasks).join(', ')})`);
    return t;
  }

  private graph(task: TaskName, role: keyof TaskSpec['graphs']): ort.InferenceSession {
    const name = this.task(task).graphs[role];
    const session = name === undefined ? undefined : this.sessions.get(name);
    if (!session) throw new Error(`${this.manifest.version}: task "${task}" has no "${role}" graph`);
    return session;
  }

  private pixelTensor(task: TaskName, pixels: Float32Array, count?: number): { tensor: ort.Tensor; B: number } {
    const S = this.imageSize(task);
    const per = 3 * S * S;
    const B = count ?? pixels.length / per;
    if (!Number.isInteger(B) || B <= 0 || pixels.length !== B * per) {
      throw new Error(`${task}: pixels hold ${pixels.length} values, expected B × 3 × ${S} × ${S} (B = ${count ?? '?'})`);
    }
    return { tensor: new ort.Tensor('float32', pixels, [B, 3, S, S]), B };
  }

  private async vision(task: TaskName, pixels: Float32Array, count?: number, outputs = ['image_embeds']) {
    const { tensor, B } = this.pixelTensor(task, pixels, count);
    const session = this.graph(task, 'vision');
    for (const o of outputs) {
      if (!session.outputNames.includes(o)) throw new Error(`${task}: the vision graph has no "${o}" output`);
    }
    const out = await session.run({ pixel_values: tensor }, outputs);
    return { out, B };
  }

  private firstTokenId(which: unknown, fallback: 'enc' | 'cls'): number {
    const st = this.manifest.tokenizer.special_tokens;
    const w = which ?? fallback;
    if (w === 'enc') return st.enc;
    if (w === 'cls') return st.cls;
    throw new Error(`first token must be "enc" or "cls", found ${JSON.stringify(w)}`);
  }

  private maxTextLength(task: TaskName): number {
    return numSetting(this.manifest.tasks[task], 'max_text_length', this.manifest.tokenizer.max_text_length);
  }

  private decode(tokens: readonly number[]): string {
    return this.tokenizer.decode(tokens, true);
  }

  // ---------------------------------------------------------------- caption

  async caption(pixels: Float32Array, B: number, opts: CaptionOptions = {}): Promise<Caption[][]> {
    const task = this.task('caption');
    const st = this.manifest.tokenizer.special_tokens;
    const mode = opts.mode ?? 'beam';
    const promptText = opts.prompt ?? (setting(task, 'prompt') as string | undefined) ?? '';
    const prompt = promptText ? [st.dec, ...this.tokenizer.tokenize(promptText)] : [st.dec];
    const maxLength = opts.maxLength ?? numSetting(task, 'max_length', 20);
    const minLength = opts.minLength ?? numSetting(task, 'min_length', 5);
    const numCaptions = opts.numCaptions ?? 1;

    const { out } = await this.vision('caption', pixels, B);
    const cross = await computeCrossKV(this.graph('caption', 'cross_kv'), out['image_embeds']!);
    const stepper = new OrtDecoderSession(this.graph('caption', 'decoder'), cross);
    const common = { maxLength, minLength, eos: st.sep };

    let res: Generated[][];
    if (mode === 'beam') {
      res = await beamSearch(stepper, prompt, B, {
        ...common,
        numBeams: opts.numBeams ?? numSetting(task, 'num_beams', 3),
        repetitionPenalty: opts.repetitionPenalty ?? numSetting(task, 'repetition_penalty', 1.0),
        lengthPenalty: opts.lengthPenalty ?? 1.0,
        numReturn: numCaptions,
      });
    } else if (mode === 'greedy') {
      const g = await greedy(stepper, prompt, B, {
        ...common,
        repetitionPenalty: opts.repetitionPenalty ?? numSetting(task, 'repetition_penalty', 1.0),
      });
      res = g.map((x) => [x]);
    } else if (mode === 'nucleus') {
      let uniforms = opts.uniforms;
      if (!uniforms && opts.seeds) {
        if (opts.seeds.length !== B) throw new RangeError(`seeds has ${opts.seeds.length} entries for ${B} images`);
        const rngs = opts.seeds.map((s) => mulberry32(s));
        uniforms = (rows) => Array.from({ length: rows }, (_, r) => rngs[Math.floor(r / numCaptions)]!());
      } else if (!uniforms) {
        const rng = mulberry32(opts.seed ?? 0);
        uniforms = (rows) => Array.from({ length: rows }, rng);
      }
      const crossIndex = Array.from({ length: B * numCaptions }, (_, r) => Math.floor(r / numCaptions));
      const flat = await sample(stepper, prompt, crossIndex, {
        ...common,
        uniforms,
        repetitionPenalty: opts.repetitionPenalty ?? 1.1,
        topK: opts.topK ?? 50,
        topP: opts.topP ?? 0.9,
        temperature: opts.temperature ?? 1.0,
      });
      res = Array.from({ length: B }, (_, i) => flat.slice(i * numCaptions, (i + 1) * numCaptions));
    } else {
      throw new Error(`unknown caption mode ${JSON.stringify(mode)}`);
    }
    return res.map((gens) => gens.map((g) => ({ tokens: g.tokens, text: this.decode(g.tokens), score: g.score })));
  }

  // ---------------------------------------------------------------- VQA

  answer(pixels: Float32Array, questions: readonly Question[], opts: AnswerGenerateOptions): Promise<GeneratedAnswer[]>;
  answer(pixels: Float32Array, questions: readonly Question[], opts: AnswerRankOptions): Promise<ScoredAnswer[][]>;
  async answer(
    pixels: Float32Array,
    questions: readonly Question[],
    opts: AnswerGenerateOptions | AnswerRankOptions,
  ): Promise<GeneratedAnswer[] | ScoredAnswer[][]> {
    const task = this.task('vqa');
    const st = this.manifest.tokenizer.special_tokens;
    if (questions.length === 0) return [];
    const { out, B } = await this.vision('vqa', pixels);
    for (const q of questions) {
      if (!Number.isInteger(q.image) || q.image < 0 || q.image >= B) throw new Error(`question image ${q.image} is not in 0..${B - 1}`);
    }
    const embeds = gather(out['image_embeds']!, questions.map((q) => q.image));
    const maxWords = numSetting(task, 'max_question_words', 50);
    const enc = this.tokenizer.encodeBatch(
      questions.map((q) => preQuestion(q.question, maxWords)),
      this.firstTokenId(setting(task, 'first_token'), 'enc'),
      this.maxTextLength('vqa'),
    );
    const qMask = new ort.Tensor('int64', enc.mask, [enc.rows, enc.width]);
    const qOut = await this.graph('vqa', 'question_encoder').run(
      { input_ids: new ort.Tensor('int64', enc.ids, [enc.rows, enc.width]), attention_mask: qMask, image_embeds: embeds },
      ['question_states'],
    );
    const cross = await computeCrossKV(this.graph('vqa', 'cross_kv'), qOut['question_states']!);
    const decoder = new OrtDecoderSession(this.graph('vqa', 'decoder'), cross, qMask);
    const Q = questions.length;

    if (opts.mode === 'rank') {
      const candidates = [...opts.candidates];
      if (candidates.length === 0) throw new Error('rank: the candidate list is empty');
      const answers = this.tokenizer.encodeBatch(candidates, st.dec, this.maxTextLength('vqa'));
      const k = opts.k ?? numSetting(task, 'rank_k', 128);
      const ranked = await rankAnswers(decoder, Q, answers, k, st.pad);
      return ranked.map((r) => r.map(({ index, score }) => ({ answer: candidates[index]!, score })));
    }
    if (opts.mode !== 'generate') throw new Error(`unknown answer mode ${JSON.stringify((opts as { mode: unknown }).mode)}`);
    const res = await beamSearch(decoder, [st.dec], Q, {
      numBeams: opts.numBeams ?? numSetting(task, 'num_beams', 3),
      maxLength: opts.maxLength ?? numSetting(task, 'max_length', 10),
      minLength: opts.minLength ?? numSetting(task, 'min_length', 1),
      eos: st.sep,
    });
    return res.map((r) => {
      const g = r[0]!;
      return { answer: this.decode(g.tokens), tokens: g.tokens, score: g.score };
    });
  }

  // ---------------------------------------------------------------- ITM / ITC / embeddings

  private async textItc(texts: readonly string[], task: 'match' | 'embed'): Promise<Float32Array[]> {
    const st = this.manifest.tokenizer.special_tokens;
    const enc = this.tokenizer.encodeBatch(texts.map((t) => preCaption(t)), st.cls, this.maxTextLength(task));
    const out = await this.graph(task, 'text_unimodal').run(
      {
        input_ids: new ort.Tensor('int64', enc.ids, [enc.rows, enc.width]),
        attention_mask: new ort.Tensor('int64', enc.mask, [enc.rows, enc.width]),
      },
      ['text_itc'],
    );
    return rowsOf(out['text_itc']!);
  }

  /** Raw ITM head logits [no match, match] per pair, given the vision graph's `image_embeds` [B, N, D]. */
  private async itm(imageEmbeds: ort.Tensor, B: number, pairs: readonly MatchPair[], opts: MatchOptions): Promise<Array<[number, number]>> {
    const task = this.task('match');
    for (const p of pairs) {
      if (!Number.isInteger(p.image) || p.image < 0 || p.image >= B) throw new Error(`pair image ${p.image} is not in 0..${B - 1}`);
    }
    const enc = this.tokenizer.encodeBatch(
      pairs.map((p) => preCaption(p.text)),
      this.firstTokenId(opts.firstToken ?? setting(task, 'first_token'), 'enc'),
      this.maxTextLength('match'),
    );
    const out = await this.graph('match', 'text_image').run(
      {
        input_ids: new ort.Tensor('int64', enc.ids, [enc.rows, enc.width]),
        attention_mask: new ort.Tensor('int64', enc.mask, [enc.rows, enc.width]),
        image_embeds: gather(imageEmbeds, pairs.map((p) => p.image)),
      },
      ['itm_logits'],
    );
    const logits = out['itm_logits']!.data as Float32Array;
    return pairs.map((_, i) => [logits[2 * i]!, logits[2 * i + 1]!]);
  }

  /** ITM probability, raw ITM logits and ITC cosine of (image, text) pairs. */
  async match(pixels: Float32Array, pairs: readonly MatchPair[], opts: MatchOptions = {}): Promise<MatchResult[]> {
    this.task('match'); // a model without ITM fails even on an empty batch
    if (pairs.length === 0) return [];
    const { out, B } = await this.vision('match', pixels, undefined, ['image_embeds', 'image_itc']);
    const logits = await this.itm(out['image_embeds']!, B, pairs, opts);
    const imageItc = rowsOf(out['image_itc']!);
    const textItc = await this.textItc(
      pairs.map((p) => p.text),
      'match',
    );
    return pairs.map((p, i) => {
      const a = imageItc[p.image]!;
      const b = textItc[i]!;
      let dot = 0;
      for (let d = 0; d < a.length; d++) dot += a[d]! * b[d]!;
      const itmLogits = logits[i]!;
      return { itm: softmax1(itmLogits, 0, 2, 1), itc: dot, itmLogits };
    });
  }

  /** Raw ITM head logits [no match, match] of (image, text) pairs: `match` without the ITC part. */
  async itmLogits(pixels: Float32Array, pairs: readonly MatchPair[], opts: MatchOptions = {}): Promise<Array<[number, number]>> {
    this.task('match'); // a model without ITM fails even on an empty batch
    if (pairs.length === 0) return [];
    const { out, B } = await this.vision('match', pixels);
    return this.itm(out['image_embeds']!, B, pairs, opts);
  }

  private embedTask(): 'embed' | 'match' {
    return this.manifest.tasks.embed ? 'embed' : 'match';
  }

  /** L2-normalised ITC image embeddings (vision graph `image_itc`), one per image. */
  async embedImages(pixels: Float32Array, B: number): Promise<Float32Array[]> {
    const { out } = await this.vision(this.embedTask(), pixels, B, ['image_itc']);
    return rowsOf(out['image_itc']!);
  }

  /** L2-normalised ITC text embeddings (first token [CLS], pre_caption cleanup). */
  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    return this.textItc(texts, this.embedTask());
  }

  /** Width of the ITC embeddings as the graphs produce them; undefined for models without ITC. */
  get embedDim(): number | undefined {
    return this.itcWidth;
  }

  /**
   * Embeds one empty text to learn the ITC width. Measured, not read from the manifest's
   * architecture.embed_dim, which nothing checks against the graphs (and the gallery
   * embeddings of `retrieve` must match what the graphs produce).
   */
  private async measureItcWidth(): Promise<number | undefined> {
    const task = this.manifest.tasks[this.embedTask()];
    if (!task?.graphs.text_unimodal) return undefined;
    const [embedding] = await this.embedTexts(['']);
    return embedding?.length;
  }

  /** The `k` best images of a packed [n × embedDim] gallery of ITC embeddings for a text query (retrieve.ts). */
  async rankGallery(query: string, gallery: Float32Array, k: number): Promise<ItcHit[]> {
    const [q] = await this.embedTexts([query]);
    return rankByItc(q!, gallery, k);
  }

  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) await s.release();
  }
}
