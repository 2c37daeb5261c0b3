/**
 * Search strategies (greedy, nucleus sampling, HF 4.x beam search) over an abstract decoder,
 * mirroring tools/blip-export/blip/generate.py step for step so that the same logits give the
 * same tokens and scores as the PyTorch reference.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */
import {
  argmax,
  logSoftmaxAt,
  logSumExp,
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
        scores[r]! += logSoftmaxAt(raw, t);
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
 * HF 4.x beam search (early_stopping=False): log-softmax, processors, add beam scores, top 2·beams,
 * eos only from ranks < beams, hypothesis score = Σ log p / length^lp where the length counts the
 * prompt. Returns per input the `numReturn` best hypotheses, best first.
 *
 * Same tokens and scores as generate.py `beam_search`, with less decoder work: an input whose
 * hypotheses are done leaves the decoder batch (generate.py keeps feeding it pad tokens whose
 * logits it ignores), so the rows fed are those of the inputs still searching.
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
  // Global rows b·nb + j; `active` lists the inputs still searching, in order; the decoder's rows
  // are theirs: decoder row a·nb + j is global row active[a]·nb + j.
  let ids: number[][] = Array.from({ length: R }, () => [...prompt]);
  let curLen = prompt.length;
  let active = Array.from({ length: B }, (_, b) => b);
  let beamScores = new Float32Array(R);
  for (let r = 0; r < R; r++) if (r % nb !== 0) beamScores[r] = -1e9;
  const hyps = Array.from({ length: B }, () => new Hypotheses(nb, lp));
  const done = new Array<boolean>(B).fill(false);
  // Every beam of an input starts from the same prompt: run it once per input, then give each
  // beam a copy of its input's cache row and logits (a prompt step costs nb× less).
  stepper.start(active);
  const promptLogits = await stepper.step(active.map(() => [...prompt]));
  const V0 = vocabSize(promptLogits, B);
  const beamRows = Array.from({ length: R }, (_, r) => Math.floor(r / nb));
  stepper.reorder(beamRows);
  let logits: Float32Array = new Float32Array(R * V0);
  beamRows.forEach((b, r) => logits.set(promptLogits.subarray(b * V0, (b + 1) * V0), r * V0));
  for (;;) {
    const V = vocabSize(logits, active.length * nb);
    const nextScores = new Float32Array(R);
    const nextTokens = new Array<number>(R).fill(0);
    const nextRows = new Array<number>(R).fill(0);
    for (let a = 0; a < active.length; a++) {
      const b = active[a]!;
      const top = beamCandidates(
        logits.subarray(a * nb * V, (a + 1) * nb * V),
        V,
        ids.slice(b * nb, (b + 1) * nb),
        beamScores.subarray(b * nb, (b + 1) * nb),
        penalty,
        curLen < opts.minLength ? opts.eos : -1,
        2 * nb,
      );
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
    const nextIds = ids.slice();
    for (const b of active) {
      for (let k = 0; k < nb; k++) nextIds[b * nb + k] = [...ids[nextRows[b * nb + k]!]!, nextTokens[b * nb + k]!];
    }
    ids = nextIds;
    curLen++;
    if (done.every(Boolean) || curLen >= opts.maxLength) break;
    // Decoder rows for the inputs still searching: new row (a', k) continues old decoder row
    // (position of its input in `active`)·nb + (its beam).
    const position = new Map(active.map((b, a) => [b, a]));
    const still = active.filter((b) => !done[b]);
    const rows: number[] = [];
    const tokens: number[][] = [];
    for (const b of still) {
      for (let k = 0; k < nb; k++) {
        const from = nextRows[b * nb + k]!;
        rows.push(position.get(b)! * nb + (from - b * nb));
        tokens.push([nextTokens[b * nb + k]!]);
      }
    }
    active = still;
    stepper.reorder(rows);
    logits = await stepper.step(tokens);
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

/**
 * The `count` best candidates (score, flat index j·V + v; descending, ties by ascending index) of
 * one input's nb beam rows, where candidate (j, v) scores f32(processed log-softmax of row j at v
 * + the beam's score) and the processors are the repetition penalty over the row's ids and the
 * min-length eos ban (`banEos` ≥ 0): the same float32 operations in the same order as
 * logSoftmax → repetitionPenalty → minLength → + beam score on whole rows followed by a partial
 * selection over the nb·V candidates, without the intermediate row copies.
 */
function beamCandidates(
  logits: Float32Array,
  V: number,
  rowIds: readonly number[][],
  beamScores: Float32Array,
  penalty: number,
  banEos: number,
  count: number,
): Array<{ score: number; index: number }> {
  const best: Array<{ score: number; index: number }> = [];
  const buf = scratchRow(V);
  let worst = -Infinity; // the count-th best score once `best` is full
  for (let j = 0; j < rowIds.length; j++) {
    const off = j * V;
    const lse = logSumExp(logits.subarray(off, off + V));
    const bs = beamScores[j]!;
    for (let v = 0; v < V; v++) buf[v] = f32(f32(logits[off + v]! - lse) + bs);
    if (penalty !== 1.0) {
      const p = f32(penalty);
      for (const id of new Set(rowIds[j]!)) {
        const s = f32(logits[off + id]! - lse);
        buf[id] = f32((s < 0 ? f32(s * p) : f32(s / p)) + bs);
      }
    }
    if (banEos >= 0) buf[banEos] = -Infinity;
    for (let v = 0; v < V; v++) {
      const s = buf[v]!;
      if (best.length === count && !(s > worst)) continue;
      let pos = best.length;
      while (pos > 0 && s > best[pos - 1]!.score) pos--;
      best.splice(pos, 0, { score: s, index: off + v });
      if (best.length > count) best.pop();
      if (best.length === count) worst = best[count - 1]!.score;
    }
  }
  return best;
}

let scratch = new Float32Array(0);
function scratchRow(V: number): Float32Array {
  if (scratch.length < V) scratch = new Float32Array(V);
  return scratch;
}
