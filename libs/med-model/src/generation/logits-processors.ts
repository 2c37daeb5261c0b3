/**
 * Logits processors with HuggingFace transformers 4.x semantics, mirroring
 * tools/blip-export/blip/generate.py. Each works on one row of scores (a Float32Array of V values)
 * and returns a new row; inputs are never modified.
 *
 * PyTorch computes these in float32 (a Python scalar becomes a float32 operand), so every
 * arithmetic result is rounded with Math.fround: a double operation on float32 operands rounded
 * once to float32 equals the float32 operation.
 *
 * Greedy search and sampling apply them to the RAW logits; beam search applies them to the
 * LOG-SOFTMAX scores.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */

const f32 = Math.fround;

/** Every id already in the row: s·p if s < 0 else s/p (HF RepetitionPenaltyLogitsProcessor). */
export function repetitionPenalty(scores: Float32Array, ids: readonly number[], penalty: number): Float32Array {
  const out = scores.slice();
  if (penalty === 1.0) return out;
  const p = f32(penalty);
  // gather-then-scatter: a repeated id is penalised once, from its original value.
  for (const id of new Set(ids)) {
    const s = scores[id]!;
    out[id] = s < 0 ? f32(s * p) : f32(s / p);
  }
  return out;
}

/** Bans `eos` while the sequence (prompt included) is shorter than `minimum`. */
export function minLength(scores: Float32Array, curLen: number, minimum: number, eos: number): Float32Array {
  const out = scores.slice();
  if (curLen < minimum) out[eos] = -Infinity;
  return out;
}

export function temperature(scores: Float32Array, t: number): Float32Array {
  if (t === 1.0) return scores.slice();
  const tt = f32(t);
  return scores.map((s) => f32(s / tt));
}

/** Keeps the k largest scores (and every score tied with the k-th); k <= 0 disables. */
export function topK(scores: Float32Array, k: number): Float32Array {
  const out = scores.slice();
  if (k <= 0) return out;
  const kk = Math.min(k, scores.length);
  const sorted = Float32Array.from(scores).sort(); // ascending; NaN-free logits assumed
  const kth = sorted[sorted.length - kk]!;
  for (let i = 0; i < out.length; i++) if (out[i]! < kth) out[i] = -Infinity;
  return out;
}

/**
 * Indices of the finite entries of `scores`, by ascending value (ties by ascending index).
 * −∞ entries (already filtered, e.g. by top-k) have probability 0: leaving them out changes no
 * cumulative sum, and keeps the sort short.
 */
function ascendingFiniteOrder(scores: Float32Array): number[] {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! !== -Infinity) idx.push(i);
  idx.sort((a, b) => scores[a]! - scores[b]! || a - b);
  return idx;
}

/**
 * Nucleus filter (HF TopPLogitsWarper): sort ascending, softmax, cumulative sum; remove tokens
 * whose cumulative probability is <= 1 - p, always keeping the most probable one.
 */
export function topP(scores: Float32Array, p: number): Float32Array {
  const out = scores.slice();
  if (p >= 1.0) return out;
  const order = ascendingFiniteOrder(scores);
  if (order.length === 0) return out;
  const max = scores[order[order.length - 1]!]!;
  let sum = 0;
  const e = new Float64Array(order.length);
  for (let j = 0; j < order.length; j++) {
    const v = scores[order[j]!]!;
    e[j] = v === -Infinity ? 0 : Math.exp(v - max);
    sum += e[j]!;
  }
  // torch: float32 softmax, cumsum accumulated in double; threshold 1 - p computed in double then compared in float32.
  const threshold = f32(1 - p);
  let cum = 0;
  for (let j = 0; j < order.length - 1; j++) {
    cum += f32(e[j]! / sum);
    if (f32(cum) <= threshold) out[order[j]!] = -Infinity;
  }
  return out;
}

/** log Σ exp of one row, in double: log_softmax(x) = f32(x − logSumExp(row)). */
export function logSumExp(scores: Float32Array): number {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  let sum = 0;
  for (const s of scores) sum += Math.exp(s - max);
  return max + Math.log(sum);
}

/** log_softmax of one row (computed in double, rounded to float32). */
export function logSoftmax(scores: Float32Array): Float32Array {
  const lse = logSumExp(scores);
  return scores.map((s) => f32(s - lse));
}

/** logSoftmax(scores)[index], without the rest of the row (the same operations, so the same value). */
export function logSoftmaxAt(scores: Float32Array, index: number): number {
  return f32(scores[index]! - logSumExp(scores));
}

/** softmax of one row in float64 (the sampling distribution). */
export function softmax64(scores: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i]! > max) max = scores[i]!;
  const out = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const e = scores[i]! === -Infinity ? 0 : Math.exp(scores[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/** First index of the largest value (torch.argmax). */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}
