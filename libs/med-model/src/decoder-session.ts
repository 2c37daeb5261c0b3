/**
 * The image-grounded decoder over onnxruntime (docs/model-directory.md, roles `cross_kv` and
 * `decoder`): cross-attention K/V are computed once per image (or per question) and shared by
 * every row (beam) of that image; the self-attention K/V cache (`present_*` → next `past_*`)
 * and the growing self-attention mask are kept per row. The first step feeds a zero-length past.
 *
 * Two decoder graph forms (tools/blip-export DecoderGraph):
 *  - grouped (no `cross_index` input): rows are image-major, R = C·G, and the G rows of an image
 *    attend to its K/V in one product. Row layouts that are not grouped over all cross rows (a
 *    subset of images once others have finished, VQA ranking passes over some questions) are fed
 *    a gathered copy of the cross rows they use, made once per layout, not once per step;
 *  - gather (`cross_index` [R] input, earlier exports): the graph gathers the K/V per row at every step.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */
import * as ort from 'onnxruntime-node';
import type { DecoderStepper } from './generation/search.js';

/** The outputs of a `cross_kv` run: `cross_key_{l}`, `cross_value_{l}` [C, H, M, dh]. */
export type CrossKV = Record<string, ort.Tensor>;

/** Runs `cross_kv` on encoder states [C, M, De] (image embeds, or VQA question states). */
export async function computeCrossKV(session: ort.InferenceSession, states: ort.Tensor): Promise<CrossKV> {
  const out = await session.run({ encoder_hidden_states: states });
  const cross: CrossKV = {};
  for (const [name, t] of Object.entries(out)) if (name.startsWith('cross_')) cross[name] = t;
  return cross;
}

function int64(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', data, dims);
}

function ones64(count: number, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', new BigInt64Array(count).fill(1n), dims);
}

/** Rows `rows` of a row-major float32 or int64 tensor [R, ...] (a gather on axis 0). */
function gatherRows(t: ort.Tensor, rows: readonly number[]): ort.Tensor {
  const dims = [...t.dims];
  const R = dims[0]!;
  const per = R === 0 ? 0 : t.data.length / R;
  // One copy loop for both element types (TS cannot call set() on the union without a cast).
  const copy = <A extends Float32Array | BigInt64Array>(src: A, dst: A) => {
    rows.forEach((r, i) => dst.set(src.subarray(r * per, (r + 1) * per) as never, i * per));
    return dst;
  };
  dims[0] = rows.length;
  if (t.type === 'int64') return new ort.Tensor('int64', copy(t.data as BigInt64Array, new BigInt64Array(rows.length * per)), dims);
  return new ort.Tensor('float32', copy(t.data as Float32Array, new Float32Array(rows.length * per)), dims);
}

/**
 * How rows map onto the cross rows they read, for a grouped-form graph: `rows[c]` is the cross row
 * (image) that rows c·G … c·G+G−1 read. Null when the layout is not grouped (runs of unequal
 * length, or an image in two runs).
 */
export function groupedLayout(index: readonly number[]): { rows: number[]; group: number } | null {
  const R = index.length;
  if (R === 0) return null;
  let G = 1;
  while (G < R && index[G] === index[0]) G++;
  if (R % G !== 0) return null;
  const rows: number[] = [];
  const seen = new Set<number>();
  for (let c = 0; c < R / G; c++) {
    const img = index[c * G]!;
    if (seen.has(img)) return null;
    seen.add(img);
    for (let j = 1; j < G; j++) if (index[c * G + j] !== img) return null;
    rows.push(img);
  }
  return { rows, group: G };
}

export class OrtDecoderSession implements DecoderStepper {
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
  /** 'grouped': no cross_index input (rows image-major); 'gather': the graph gathers K/V per row. */
  readonly form: 'grouped' | 'gather';
  private readonly cross: CrossKV;
  private readonly crossRows: number;
  private readonly encoderMask: ort.Tensor;
  private past: ort.Tensor[] = []; // [k0, v0, k1, v1, ...]
  private pastLength = 0;
  private index: number[] = [];
  /** Grouped form: the cross rows fed for the last layout (key: their list), and the tensors. */
  private fed: { key: string; cross: CrossKV; mask: ort.Tensor } | undefined;

  /**
   * @param session the `decoder` graph
   * @param cross the `cross_kv` outputs for C images (or questions)
   * @param encoderMask int64 [C, M] (1 = attend); defaults to all ones
   */
  constructor(
    private readonly session: ort.InferenceSession,
    cross: CrossKV,
    encoderMask?: ort.Tensor,
  ) {
    this.cross = cross;
    const k0 = cross['cross_key_0'];
    if (!k0 || k0.dims.length !== 4) throw new Error('cross_kv outputs lack cross_key_0 [C, H, M, dh]');
    const [C, H, M, dh] = k0.dims as [number, number, number, number];
    let layers = 0;
    while (cross[`cross_key_${layers}`] && cross[`cross_value_${layers}`]) layers++;
    this.layers = layers;
    this.heads = H;
    this.headDim = dh;
    this.crossRows = C;
    this.encoderMask = encoderMask ?? ones64(C * M, [C, M]);
    this.form = session.inputNames.includes('cross_index') ? 'gather' : 'grouped';
  }

  start(crossIndex: number[]): void {
    this.index = [...crossIndex];
    this.pastLength = 0;
    const R = crossIndex.length;
    const empty = new ort.Tensor('float32', new Float32Array(0), [R, this.heads, 0, this.headDim]);
    this.past = Array.from({ length: 2 * this.layers }, () => empty);
  }

  /** The cross K/V and encoder mask a grouped-form graph reads for rows `index` (see groupedLayout). */
  private groupedCross(index: readonly number[]): { cross: CrossKV; mask: ort.Tensor } {
    // Not grouped (a row order search strategies never make): one cross row per row.
    const rows = groupedLayout(index)?.rows ?? [...index];
    if (rows.length === this.crossRows && rows.every((r, i) => r === i)) return { cross: this.cross, mask: this.encoderMask };
    const key = rows.join(',');
    if (this.fed?.key !== key) {
      const cross: CrossKV = {};
      for (const [name, t] of Object.entries(this.cross)) cross[name] = gatherRows(t, rows);
      this.fed = { key, cross, mask: gatherRows(this.encoderMask, rows) };
    }
    return this.fed;
  }

  private feeds(ids: ort.Tensor, mask: ort.Tensor, past: ort.Tensor[], index: readonly number[]) {
    const feeds: Record<string, ort.Tensor> = { input_ids: ids, attention_mask: mask };
    let cross = this.cross;
    if (this.form === 'gather') {
      feeds['encoder_attention_mask'] = this.encoderMask;
      feeds['cross_index'] = int64(index, [index.length]);
    } else {
      const g = this.groupedCross(index);
      cross = g.cross;
      feeds['encoder_attention_mask'] = g.mask;
    }
    for (let l = 0; l < this.layers; l++) {
      feeds[`past_key_${l}`] = past[2 * l]!;
      feeds[`past_value_${l}`] = past[2 * l + 1]!;
      feeds[`cross_key_${l}`] = cross[`cross_key_${l}`]!;
      feeds[`cross_value_${l}`] = cross[`cross_value_${l}`]!;
    }
    return feeds;
  }

  async step(newIds: number[][]): Promise<Float32Array> {
    const R = this.index.length;
    if (newIds.length !== R) throw new Error(`step: ${newIds.length} rows, expected ${R}`);
    const t = newIds[0]?.length ?? 0;
    if (t === 0 || newIds.some((r) => r.length !== t)) throw new Error('step: rows must have the same, non-zero length');
    const total = this.pastLength + t;
    const feeds = this.feeds(int64(newIds.flat(), [R, t]), ones64(R * total, [R, total]), this.past, this.index);
    const out = await this.session.run(feeds);
    const next: ort.Tensor[] = [];
    for (let l = 0; l < this.layers; l++) next.push(out[`present_key_${l}`]!, out[`present_value_${l}`]!);
    this.past = next;
    this.pastLength = total;
    const logits = out['logits']!;
    const V = logits.dims[2]!;
    const data = logits.data as Float32Array;
    const last = new Float32Array(R * V);
    for (let r = 0; r < R; r++) last.set(data.subarray((r * t + t - 1) * V, (r * t + t) * V), r * V);
    return last;
  }

  reorder(rows: number[]): void {
    if (rows.length === this.index.length && rows.every((r, i) => r === i)) return;
    this.past = this.past.map((t) => gatherRows(t, rows));
    this.index = rows.map((r) => this.index[r]!);
  }

  /**
   * One full pass without cache (VQA ranking): ids and mask int64 [R, t] (mask may hold pads),
   * row r reading cross row `crossIndex[r]`. Returns logits [R, t, V] and V.
   */
  async forward(
    ids: BigInt64Array,
    mask: BigInt64Array,
    R: number,
    t: number,
    crossIndex: readonly number[],
  ): Promise<{ logits: Float32Array; vocab: number }> {
    const empty = new ort.Tensor('float32', new Float32Array(0), [R, this.heads, 0, this.headDim]);
    const past = Array.from({ length: 2 * this.layers }, () => empty);
    const out = await this.session.run(
      this.feeds(new ort.Tensor('int64', ids, [R, t]), new ort.Tensor('int64', mask, [R, t]), past, crossIndex),
      ['logits'],
    );
    const logits = out['logits']!;
    return { logits: logits.data as Float32Array, vocab: logits.dims[2]! };
  }
}
