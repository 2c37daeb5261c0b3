/**
 * VQA answer ranking (BLIP blip_vqa.py `rank_answer`, generate.py `rank_answers`): one decoder
 * step from `[DEC]` picks the top-k candidates by the probability of their first token; each is
 * teacher-forced and scored by −Σ_t label-smoothed (0.1) cross-entropy over its non-pad targets.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */

/** A decoder pass without cache (OrtDecoderSession.forward). */
export interface FullPassDecoder {
  forward(
    ids: BigInt64Array,
    mask: BigInt64Array,
    rows: number,
    width: number,
    crossIndex: readonly number[],
  ): Promise<{ logits: Float32Array; vocab: number }>;
}

export interface EncodedAnswers {
  /** int64 [n, width]: `[DEC]` + tokens + `[SEP]`, right-padded. */
  ids: BigInt64Array;
  mask: BigInt64Array;
  rows: number;
  width: number;
}

export interface RankedAnswer {
  /** Index into the candidate list. */
  index: number;
  score: number;
}

const LABEL_SMOOTHING = 0.1;

function logSoftmax64(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

/** Indices of the k largest values, descending (ties by ascending index). */
function topIndices(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}

/**
 * Ranks candidate answers for `numQuestions` questions whose cross-attention rows are
 * 0..numQuestions-1 in `decoder`. Returns per question the top-k candidates, best first.
 * `maxRowsPerPass` bounds the teacher-forced batch (rows = questions × k).
 */
export async function rankAnswers(
  decoder: FullPassDecoder,
  numQuestions: number,
  answers: EncodedAnswers,
  k: number,
  pad: number,
  maxRowsPerPass = 512,
): Promise<RankedAnswer[][]> {
  const Q = numQuestions;
  const n = answers.rows;
  const W = answers.width;
  if (n === 0 || Q === 0) return Array.from({ length: Q }, () => []);
  const kk = Math.min(k, n);
  const padId = BigInt(pad);

  // 1. First decoder step from the first token of the candidates ([DEC]).
  const start = new BigInt64Array(Q).fill(answers.ids[0]!);
  const first = await decoder.forward(
    start,
    new BigInt64Array(Q).fill(1n),
    Q,
    1,
    Array.from({ length: Q }, (_, q) => q),
  );
  const V = first.vocab;
  const firstTokens = Array.from({ length: n }, (_, a) => Number(answers.ids[a * W + 1]!));
  const topk: number[][] = [];
  for (let q = 0; q < Q; q++) {
    const logp = logSoftmax64(first.logits.subarray(q * V, (q + 1) * V));
    const probs = firstTokens.map((t) => Math.exp(logp[t]!));
    topk.push(topIndices(probs, kk));
  }

  // 2. Teacher-forced scoring of each question's top-k candidates.
  const scores: number[][] = Array.from({ length: Q }, () => new Array<number>(kk).fill(0));
  const qPerPass = Math.max(1, Math.floor(maxRowsPerPass / kk));
  for (let q0 = 0; q0 < Q; q0 += qPerPass) {
    const qs = Array.from({ length: Math.min(qPerPass, Q - q0) }, (_, i) => q0 + i);
    const R = qs.length * kk;
    const ids = new BigInt64Array(R * W);
    const mask = new BigInt64Array(R * W);
    const crossIndex: number[] = [];
    qs.forEach((q, qi) => {
      topk[q]!.forEach((a, j) => {
        const r = qi * kk + j;
        ids.set(answers.ids.subarray(a * W, (a + 1) * W), r * W);
        mask.set(answers.mask.subarray(a * W, (a + 1) * W), r * W);
        crossIndex.push(q);
      });
    });
    const { logits } = await decoder.forward(ids, mask, R, W, crossIndex);
    qs.forEach((q, qi) => {
      for (let j = 0; j < kk; j++) {
        const r = qi * kk + j;
        let loss = 0;
        for (let t = 0; t < W - 1; t++) {
          const target = ids[r * W + t + 1]!;
          if (target === padId) continue;
          const logp = logSoftmax64(logits.subarray((r * W + t) * V, (r * W + t + 1) * V));
          let sum = 0;
          for (const v of logp) sum += v;
          loss += (1 - LABEL_SMOOTHING) * -logp[Number(target)]! + (LABEL_SMOOTHING / V) * -sum;
        }
        scores[q]![j] = -loss;
      }
    });
  }

  return topk.map((cands, q) => {
    const order = topIndices(scores[q]!, kk);
    return order.map((j) => ({ index: cands[j]!, score: scores[q]![j]! }));
  });
}
