/**
 * Text-to-image retrieval over precomputed ITC embeddings, as BLIP evaluates it (`evaluation` in
 * salesforce/BLIP train_retrieval.py, text-to-image half): rank the gallery by the cosine of the
 * normalised embeddings, then optionally re-score the best k with the ITM head. Pure functions;
 * the model runs in engine.ts (rankGallery, itmLogits), the orchestration in blip.ts.
 */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indexed typed-array math under noUncheckedIndexedAccess */

export const DEFAULT_TOP_K = 10;

export interface RetrieveOptions {
  /** Hits returned, best first (default 10; fewer when the gallery is smaller). */
  topK?: number;
  /** Re-score the best `rerank` hits by ITC with the ITM head (default 0: off). Needs the gallery's images. */
  rerank?: number;
}

/** Gallery embeddings: one normalised ITC vector per image, or all of them packed [n × dim]. */
export type GalleryEmbeddings = readonly Float32Array[] | Float32Array;

/** A gallery image ranked by ITC alone. */
export interface ItcHit {
  /** Position of the image in the gallery. */
  index: number;
  /** Cosine of the query's and the image's normalised ITC embeddings. */
  itc: number;
}

export interface RetrievalHit extends ItcHit {
  /** Raw ITM logit of the "match" class; set on re-ranked hits only. */
  itm?: number;
  /** Re-ranked hits: itm + itc (BLIP's re-rank score); the others: itc. */
  score: number;
}

/**
 * Why a retrieval was refused.
 * - INVALID_OPTION: topK is not a positive integer, or rerank not a non-negative integer.
 * - EMBEDDING_WIDTH: an embedding (or the packed array) does not fit the model's embedding width.
 * - GALLERY_SIZE: the gallery's images and embeddings differ in number.
 * - RERANK_NEEDS_IMAGES: rerank > 0 without the gallery's images (ITM looks at the pixels).
 * - UNSUPPORTED: the model has no ITC embeddings or, to re-rank, no "match" task.
 */
export type RetrievalErrorCode = 'INVALID_OPTION' | 'EMBEDDING_WIDTH' | 'GALLERY_SIZE' | 'RERANK_NEEDS_IMAGES' | 'UNSUPPORTED';

export class RetrievalError extends RangeError {
  override readonly name = 'RetrievalError';
  constructor(
    readonly code: RetrievalErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export function isRetrievalError(err: unknown, code?: RetrievalErrorCode): err is RetrievalError {
  return err instanceof RetrievalError && (code === undefined || err.code === code);
}

/** The options with their defaults, checked. */
export function retrieveSettings(opts: RetrieveOptions): { topK: number; rerank: number } {
  const topK = opts.topK ?? DEFAULT_TOP_K;
  const rerank = opts.rerank ?? 0;
  if (!Number.isInteger(topK) || topK < 1) throw new RetrievalError('INVALID_OPTION', `topK must be a positive integer, found ${topK}`);
  if (!Number.isInteger(rerank) || rerank < 0) {
    throw new RetrievalError('INVALID_OPTION', `rerank must be a non-negative integer, found ${rerank}`);
  }
  return { topK, rerank };
}

/** The gallery as one packed [n × dim] array; an already packed array is returned as is. */
export function packEmbeddings(embeddings: GalleryEmbeddings, dim: number): Float32Array {
  if (embeddings instanceof Float32Array) {
    if (embeddings.length % dim !== 0) {
      throw new RetrievalError(
        'EMBEDDING_WIDTH',
        `packed embeddings hold ${embeddings.length} values, not a multiple of the embedding width ${dim}`,
      );
    }
    return embeddings;
  }
  const packed = new Float32Array(embeddings.length * dim);
  embeddings.forEach((e, i) => {
    if (e.length !== dim) throw new RetrievalError('EMBEDDING_WIDTH', `embedding ${i} has ${e.length} values, expected ${dim}`);
    packed.set(e, i * dim);
  });
  return packed;
}

/**
 * The `k` gallery rows with the largest dot product with `query` (both normalised: the cosine),
 * best first, ties by index. `gallery` is packed [n × query.length].
 */
export function rankByItc(query: Float32Array, gallery: Float32Array, k: number): ItcHit[] {
  const dim = query.length;
  if (dim === 0 || gallery.length % dim !== 0) {
    throw new RetrievalError('EMBEDDING_WIDTH', `the gallery holds ${gallery.length} values, not a multiple of the query's ${dim}`);
  }
  const n = gallery.length / dim;
  const hits: ItcHit[] = new Array<ItcHit>(n);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    const row = i * dim;
    for (let d = 0; d < dim; d++) dot += query[d]! * gallery[row + d]!;
    hits[i] = { index: i, itc: dot };
  }
  hits.sort((a, b) => b.itc - a.itc || a.index - b.index);
  return hits.slice(0, k);
}

/**
 * BLIP's re-rank: the first `matchLogits.length` hits of `ranked` (best by ITC) are scored
 * itm + itc, where itm is the ITM head's raw "match" logit, and ordered by that score; the rest
 * follow in ITC order (BLIP scores them -100, below every re-ranked one). Source:
 * salesforce/BLIP train_retrieval.py `evaluation`: `score = model.itm_head(...)[:,1]`,
 * `score_matrix_t2i[start+i,topk_idx] = score + topk_sim` (LAVIS's compute_sim_matrix adds them alike).
 */
export function rerankHits(ranked: readonly ItcHit[], matchLogits: readonly number[], topK: number): RetrievalHit[] {
  const rescored = matchLogits.map((itm, i): RetrievalHit => {
    const hit = ranked[i]!;
    return { index: hit.index, itc: hit.itc, itm, score: itm + hit.itc };
  });
  // Array.prototype.sort is stable: equal scores keep their ITC order.
  rescored.sort((a, b) => b.score - a.score);
  const rest = ranked.slice(matchLogits.length).map((h): RetrievalHit => ({ index: h.index, itc: h.itc, score: h.itc }));
  return [...rescored, ...rest].slice(0, topK);
}
