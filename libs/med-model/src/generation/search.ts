/**
 * Search strategies (greedy, nucleus sampling, HF 4.x beam search) over an abstract decoder,
 * mirroring tools/blip-export/blip/generate.py step for step so that the same logits give the
 * same tokens and scores as the PyTorch reference.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */
import {
  argmax,
  logSoftmax,
  minLength,
  repetitionPenalty,
  softmax64,
  temperature,
  topK,
  topP,
} from './logits-processors.js';

/** The decoder as a search strategy sees it (generate.py `DecoderSession`). */
export interface DecoderStepper {
  /** Starts a new sequence batch: row r reads cross-attention row `crossIndex[r]`; clears the cache. */
  start(crossIndex: number[]): void;
  /** Feeds `newIds[r]` (same length for every row); returns [R, V] logits of the last new position. */
  step(newIds: number[][]): Promise<Float32Array>;
  /** Keeps / reorders rows of the cache: new row i is old row `rows[i]`. */
  reorder(rows: number[]): void;
}

export interface Generated {
  /** Generated ids after the prompt (eos excluded). */
  tokens: number[];
  /** Beam: length-normalised sum of log-probs; greedy/sample: sum of log-probs. */
  score: number;
}

export interface CommonOptions {
  maxLength: number;
  minLength: number;
  eos: number;
  repetitionPenalty?: number;
}

export interface SampleOptions extends CommonOptions {
  /** One U[0,1) number per row per step (rows image-major, finished rows included). */
  uniforms: (rows: number) => number[];
  topK?: number;
  topP?: number;
  temperature?: number;
}

export interface BeamOptions extends CommonOptions {
  numBeams: number;
  lengthPenalty?: number;
  numReturn?: number;
}

const f32 = Math.fround;

function rowOf(logits: Float32Array, r: number, V: number): Float32Array {
  return logits.subarray(r * V, (r + 1) * V);
}

function vocabSize(logits: Float32Array, rows: number): number {
  const V = logits.length / rows;
  if (!Number.isInteger(V) || V <= 0) throw new Error(`decoder returned ${logits.length} logits for ${rows} rows`);
  return V;
}

/** Greedy decoding of `numImages` sequences (row i reads image i). */
export function greedy(
  stepper: DecoderStepper,
  prompt: readonly number[],
  numImages: number,
  opts: CommonOptions,
): Promise<Generated[]> {
  return sampleOrGreedy(
    stepper,
    prompt,
    Array.from({ length: numImages }, (_, i) => i),
    opts,
    null,
  );
}

/**
 * Nucleus sampling: temperature → top-k → top-p on the repetition-penalised, min-length-processed
 * logits; token = first index whose float64 cumulative probability (ascending token id) exceeds
 * the row's uniform number, clamped to V − 1.
 */
export function sample(
  stepper: DecoderStepper,
  prompt: readonly number[],
  crossIndex: readonly number[],
  opts: SampleOptions,
): Promise<Generated[]> {
  const t = opts.temperature ?? 1.0;
  const k = opts.topK ?? 50;
  const p = opts.topP ?? 0.9;
  const warp = (s: Float32Array) => topP(topK(temperature(s, t), k), p);
  return sampleOrGreedy(
    stepper,
    prompt,
    crossIndex,
    { ...opts, repetitionPenalty: opts.repetitionPenalty ?? 1.1 },
    { warp, uniforms: opts.uniforms },
  );
}

/** Inverse CDF draw (torch.searchsorted(cdf, u, right=True), clamped). */
export function drawToken(probs: Float64Array, u: number): number {
  let cum = 0;
  for (let i = 0; i < probs.length; i++) {
    cum += probs[i]!;
    if (cum > u) return i;
  }
  return probs.length - 1;
}

async function sampleOrGreedy(
  stepper: DecoderStepper,
  prompt: readonly number[],
  crossIndex: readonly number[],
  opts: CommonOptions,
  sampling: { warp: (s: Float32Array) => Float32Array; uniforms: (rows: number) => number[] } | null,
): Promise<Generated[]> {
  const rows = crossIndex.length;
  const penalty = opts.repetitionPenalty ?? 1.0;
  const ids: number[][] = Array.from({ length: rows }, () => [...prompt]);
  stepper.start([...crossIndex]);
  let logits = await stepper.step(ids.map((r) => [...r]));
  const done = new Array<boolean>(rows).fill(false);
  const out: number[][] = Array.from({ length: rows }, () => []);
  const scores = new Array<number>(rows).fill(0);
  for (;;) {
    const V = vocabSize(logits, rows);
    const curLen = ids[0]!.length;
    const u = sampling ? sampling.uniforms(rows) : null;
    if (u && u.length !== rows) throw new Error(`uniforms(${rows}) returned ${u.length} numbers`);
    const nxt: number[] = [];
    for (let r = 0; r < rows; r++) {
      const raw = rowOf(logits, r, V);
      const s = minLength(repetitionPenalty(raw, ids[r]!, penalty), curLen, opts.minLength, opts.eos);
      const t = sampling ? drawToken(softmax64(sampling.warp(s)), u![r]!) : argmax(s);
      nxt.push(t);
      if (!done[r]) {
        scores[r]! += logSoftmax(raw)[t]!;
        if (t === opts.eos) done[r] = true;
        else out[r]!.push(t);
      }
    }
    for (let r = 0; r < rows; r++) ids[r]!.push(nxt[r]!);
    if (done.every(Boolean) || ids[0]!.length >= opts.maxLength) break;
    logits = await stepper.step(nxt.map((t) => [t]));
  }
  return out.map((tokens, r) => ({ tokens, score: scores[r]! }));
}

/** HF BeamHypotheses: the n best finished sequences of one input, length-normalised. */
export class Hypotheses {
  items: Array<{ score: number; seq: number[] }> = [];
  worst = 1e9;
  constructor(
    readonly n: number,
    readonly lengthPenalty: number,
  ) {}

  add(seq: number[], sumLogprobs: number): void {
    const score = sumLogprobs / seq.length ** this.lengthPenalty;
    if (this.items.length < this.n || score > this.worst) {
      this.items.push({ score, seq });
      if (this.items.length > this.n) {
        this.items.sort((a, b) => a.score - b.score); // stable, like Python's sort
        this.items.shift();
        this.worst = this.items[0]!.score;
      } else {
        this.worst = Math.min(score, this.worst);
      }
    }
  }

  isDone(bestSumLogprobs: number, curLen: number): boolean {
    return this.items.length >= this.n && this.worst >= bestSumLogprobs / curLen ** this.lengthPenalty;
  }
}

/**
 * The 2·nb best (score, flat index) of `scores` (descending; ties by ascending index), over the
 * nb·V candidates of one input.
 */
function topCandidates(scores: Float32Array, count: number): Array<{ score: number; index: number }> {
  // Partial selection: keep a small sorted buffer (count is 2·beams, tiny next to nb·V).
  const best: Array<{ score: number; index: number }> = [];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (best.length === count && !(s > best[count - 1]!.score)) continue;
    let pos = best.length;
    while (pos > 0 && s > best[pos - 1]!.score) pos--;
    best.splice(pos, 0, { score: s, index: i });
    if (best.length > count) best.pop();
  }
  return best;
}

/**
 * HF 4.x beam search (early_stopping=False): log-softmax, processors, add beam scores, top 2·beams,
 * eos only from ranks < beams, hypothesis score = Σ log p / length^lp where the length counts the
 * prompt. Returns per input the `numReturn` best hypotheses, best first.
 */
export async function beamSearch(
  stepper: DecoderStepper,
  prompt: readonly number[],
  numImages: number,
  opts: BeamOptions,
): Promise<Generated[][]> {
  const nb = opts.numBeams;
  const B = numImages;
  const lp = opts.lengthPenalty ?? 1.0;
  const penalty = opts.repetitionPenalty ?? 1.0;
  const numReturn = opts.numReturn ?? 1;
  const R = B * nb;
  let ids: number[][] = Array.from({ length: R }, () => [...prompt]);
  stepper.start(Array.from({ length: R }, (_, r) => Math.floor(r / nb)));
  let beamScores = new Float32Array(R);
  for (let r = 0; r < R; r++) if (r % nb !== 0) beamScores[r] = -1e9;
  const hyps = Array.from({ length: B }, () => new Hypotheses(nb, lp));
  const done = new Array<boolean>(B).fill(false);
  let logits = await stepper.step(ids.map((r) => [...r]));
  for (;;) {
    const V = vocabSize(logits, R);
    const curLen = ids[0]!.length;
    const nextScores = new Float32Array(R);
    const nextTokens = new Array<number>(R).fill(0);
    const nextRows = new Array<number>(R).fill(0);
    for (let b = 0; b < B; b++) {
      if (done[b]) {
        for (let j = 0; j < nb; j++) {
          nextTokens[b * nb + j] = 0; // pad
          nextRows[b * nb + j] = b * nb;
        }
        continue;
      }
      const flat = new Float32Array(nb * V);
      for (let j = 0; j < nb; j++) {
        const r = b * nb + j;
        let s = logSoftmax(rowOf(logits, r, V));
        s = minLength(repetitionPenalty(s, ids[r]!, penalty), curLen, opts.minLength, opts.eos);
        const bs = beamScores[r]!;
        for (let v = 0; v < V; v++) flat[j * V + v] = f32(s[v]! + bs);
      }
      const top = topCandidates(flat, 2 * nb);
      let k = 0;
      for (let rank = 0; rank < top.length; rank++) {
        const { score, index } = top[rank]!;
        const tok = index % V;
        const row = b * nb + Math.floor(index / V);
        if (tok === opts.eos) {
          if (rank >= nb) continue;
          hyps[b]!.add([...ids[row]!], score);
        } else {
          nextScores[b * nb + k] = score;
          nextTokens[b * nb + k] = tok;
          nextRows[b * nb + k] = row;
          k++;
        }
        if (k === nb) break;
      }
      done[b] = done[b]! || hyps[b]!.isDone(top[0]!.score, curLen);
    }
    beamScores = nextScores;
    ids = nextRows.map((row, i) => [...ids[row]!, nextTokens[i]!]);
    if (done.every(Boolean) || ids[0]!.length >= opts.maxLength) break;
    stepper.reorder(nextRows);
    logits = await stepper.step(nextTokens.map((t) => [t]));
  }
  const results: Generated[][] = [];
  for (let b = 0; b < B; b++) {
    if (!done[b]) {
      for (let j = 0; j < nb; j++) hyps[b]!.add([...ids[b * nb + j]!], beamScores[b * nb + j]!);
    }
    const best = [...hyps[b]!.items].sort((x, y) => y.score - x.score).slice(0, numReturn);
    results.push(best.map(({ score, seq }) => ({ tokens: seq.slice(prompt.length), score })));
  }
  return results;
}
