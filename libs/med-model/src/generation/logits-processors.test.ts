import { describe, expect, it } from 'vitest';
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
import { Hypotheses, beamSearch, drawToken, greedy, sample, type DecoderStepper } from './search.js';

const row = (...v: number[]) => Float32Array.from(v);

describe('logits processors (HF 4.x)', () => {
  it('repetitionPenalty divides positive and multiplies negative scores of seen ids, once per id', () => {
    const s = row(2, -2, 1, 0.5);
    const out = repetitionPenalty(s, [0, 1, 1, 0], 2);
    expect([...out]).toEqual([1, -4, 1, 0.5]);
    expect([...s]).toEqual([2, -2, 1, 0.5]); // input untouched
    expect([...repetitionPenalty(s, [0], 1)]).toEqual([...s]);
  });

  it('repetitionPenalty rounds like float32 arithmetic', () => {
    const out = repetitionPenalty(row(1), [0], 1.1);
    expect(out[0]).toBe(Math.fround(1 / Math.fround(1.1)));
  });

  it('minLength bans eos only below the minimum', () => {
    expect(minLength(row(1, 2, 3), 2, 3, 1)[1]).toBe(-Infinity);
    expect(minLength(row(1, 2, 3), 3, 3, 1)[1]).toBe(2);
  });

  it('temperature divides', () => {
    expect([...temperature(row(1, 2), 2)]).toEqual([0.5, 1]);
    expect([...temperature(row(1, 2), 1)]).toEqual([1, 2]);
  });

  it('topK keeps the k largest and ties with the k-th', () => {
    expect([...topK(row(1, 4, 3, 3, 0), 2)]).toEqual([-Infinity, 4, 3, 3, -Infinity]);
    expect([...topK(row(1, 2), 0)]).toEqual([1, 2]);
    expect([...topK(row(1, 2), 5)]).toEqual([1, 2]);
  });

  it('topP keeps the smallest set whose mass exceeds p (and always the best token)', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05
    const s = row(Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05));
    expect([...topP(s, 0.7)].map((v) => v === -Infinity)).toEqual([false, false, true, true]);
    expect([...topP(s, 0.9)].map((v) => v === -Infinity)).toEqual([false, false, false, true]);
    expect([...topP(s, 0.01)].map((v) => v === -Infinity)).toEqual([false, true, true, true]);
    expect([...topP(s, 1)]).toEqual([...s]);
  });

  it('logSoftmax / softmax64 / argmax', () => {
    const l = logSoftmax(row(0, Math.log(3)));
    expect(Math.exp(l[0]!)).toBeCloseTo(0.25, 6);
    const p = softmax64([0, Math.log(3), -Infinity]);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[2]).toBe(0);
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });

  it('drawToken is the inverse CDF (first cumulative > u), clamped', () => {
    const p = Float64Array.from([0.25, 0, 0.75]);
    expect(drawToken(p, 0)).toBe(0);
    expect(drawToken(p, 0.25)).toBe(2); // right=True: cdf 0.25 is not > 0.25
    expect(drawToken(p, 0.9999)).toBe(2);
    expect(drawToken(Float64Array.from([0.5, 0.4999]), 0.99995)).toBe(1);
  });
});

describe('Hypotheses (HF BeamHypotheses)', () => {
  it('keeps the n best length-normalised hypotheses', () => {
    const h = new Hypotheses(2, 1);
    h.add([1, 2], -2); // -1
    h.add([1, 2, 3], -6); // -2
    h.add([1], -0.5); // -0.5 evicts -2
    expect(h.items.map((x) => x.score).sort((a, b) => a - b)).toEqual([-1, -0.5]);
    expect(h.worst).toBe(-1);
    expect(h.isDone(-3, 2)).toBe(true); // -1 >= -1.5
    expect(h.isDone(-1, 2)).toBe(false);
  });
});

/** A fake decoder: the logits of a row depend only on its last token (a Markov table). */
class TableStepper implements DecoderStepper {
  rows: number[][] = [];
  starts: number[][] = [];
  /** Rows fed at each step. */
  stepRows: number[] = [];
  constructor(private readonly table: number[][]) {}
  start(crossIndex: number[]): void {
    this.starts.push(crossIndex);
    this.rows = crossIndex.map(() => []);
  }
  async step(newIds: number[][]): Promise<Float32Array> {
    this.stepRows.push(newIds.length);
    newIds.forEach((ids, r) => this.rows[r]!.push(...ids));
    const V = this.table[0]!.length;
    const out = new Float32Array(newIds.length * V);
    this.rows.forEach((ids, r) => out.set(this.table[ids[ids.length - 1]!]!, r * V));
    return out;
  }
  reorder(rows: number[]): void {
    this.rows = rows.map((r) => [...this.rows[r]!]);
  }
}

// tokens: 0 pad, 1 eos, 2 bos, 3 "a", 4 "b"
const L = Math.log;
const TABLE = [
  [0, 0, 0, 0, 0],
  [0, 0, 0, 0, 0],
  [-50, L(0.1), -50, L(0.5), L(0.4)], // after bos
  [-50, L(0.6), -50, L(0.1), L(0.3)], // after a
  [-50, L(0.2), -50, L(0.1), L(0.7)], // after b
].map((r) => r.map(Math.fround));

describe('search strategies on a Markov table', () => {
  it('greedy follows the argmax and stops at eos', async () => {
    const res = await greedy(new TableStepper(TABLE), [2], 2, { maxLength: 10, minLength: 1, eos: 1 });
    expect(res[0]!.tokens).toEqual([3]);
    expect(res[0]!.score).toBeCloseTo(lp(2, 3) + lp(3, 1), 5);
  });

  it('sample draws by inverse CDF in ascending token order', async () => {
    const run = (u: number) =>
      sample(new TableStepper(TABLE), [2], [0, 0], {
        maxLength: 4,
        minLength: 1,
        eos: 1,
        uniforms: (rows) => new Array<number>(rows).fill(u),
        repetitionPenalty: 1,
        topP: 1,
      });
    // after bos: cdf(pad) ≈ 0, cdf(eos) = 0.1, cdf(a) = 0.6; after a: cdf(eos) = 0.6.
    expect((await run(0.5)).map((g) => g.tokens)).toEqual([[3], [3]]);
    expect((await run(0.05)).map((g) => g.tokens)).toEqual([[], []]);
  });

  it('beam search finds the best normalised hypothesis', async () => {
    const res = await beamSearch(new TableStepper(TABLE), [2], 1, {
      numBeams: 2,
      maxLength: 6,
      minLength: 1,
      eos: 1,
      numReturn: 2,
    });
    // Σ log p / length (prompt counted) favours the long b-chain at max_length over "a" + eos.
    expect(res[0]![0]!.tokens).toEqual([4, 4, 4, 4, 4]);
    expect(res[0]![0]!.score).toBeCloseTo((lp(2, 4) + 4 * lp(4, 4)) / 6, 5);
    expect(res[0]).toHaveLength(2);
  });

  it('beam search runs the prompt once per input, then steps every beam', async () => {
    const stepper = new TableStepper(TABLE);
    const once = await beamSearch(stepper, [2, 3], 2, { numBeams: 3, maxLength: 5, minLength: 5, eos: 1 });
    expect(stepper.starts).toEqual([[0, 1]]);
    expect(stepper.stepRows).toEqual([2, 6, 6]); // prompt (2 inputs), then 2 × 3 beams
    expect(once[0]![0]!.tokens).toEqual([4, 4, 4]);
    expect(once[1]![0]!.tokens).toEqual(once[0]![0]!.tokens);
  });
});

function logZ(prev: number): number {
  return Math.log(TABLE[prev]!.reduce((a, b) => a + Math.exp(b), 0));
}
function lp(prev: number, tok: number): number {
  return TABLE[prev]![tok]! - logZ(prev);
}
