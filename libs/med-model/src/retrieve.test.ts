/**
 * Retrieval (retrieve.ts through `Blip.retrieve`) over the 12 images of datasets/shapes-samples
 * with the bundled tiny model (its scenes are what the top hits are checked against):
 * the ITC ranking equals a brute-force ranking of embedImages/embedTexts, re-ranked scores equal
 * the raw ITM "match" logit plus the ITC cosine as `match` computes them, clear captions find
 * their image, and bad galleries or options fail with RetrievalError. Against PyTorch: ITC
 * cosines over the parity fixture's embeddings, and softmax of the raw ITM logits = its ITM
 * probabilities.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { exactCaptionMatch, type ShapesScene } from '@blip-jobs/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blip } from './blip.js';
import { preprocess } from './image.js';
import type { ModelManifest } from './manifest.js';
import { RetrievalError, rerankHits, type RetrievalHit } from './retrieve.js';
import { PARITY_FIXTURE, REPO_ROOT, fixturePixels } from './test-model.js';

const MODEL = path.join(REPO_ROOT, 'models', 'blip-tiny-shapes');
const SAMPLES = path.join(REPO_ROOT, 'datasets', 'shapes-samples');

interface Sample {
  file: string;
  caption: string;
  scene: ShapesScene;
}
interface ParityFixture {
  image_size: number;
  tolerance: number;
  images: { resized_rgb_b64: string }[];
  match: { first_token: 'enc' | 'cls'; pairs: { image: number; text: string; itm: number }[] };
  embed: { image_itc: number[][]; texts: string[]; text_itc: number[][] };
}

const samples = JSON.parse(readFileSync(path.join(SAMPLES, 'samples.json'), 'utf8')) as Sample[];
const manifest = JSON.parse(readFileSync(path.join(MODEL, 'manifest.json'), 'utf8')) as ModelManifest;
const fx = JSON.parse(readFileSync(path.join(MODEL, PARITY_FIXTURE), 'utf8')) as ParityFixture;
/** Fresh copies each time: the worker calls transfer (detach) their inputs. */
const imageBytes = () => samples.map((s) => new Uint8Array(readFileSync(path.join(SAMPLES, s.file))));

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += a[i]! * b[i]!;
  return d;
};

describe('rerankHits', () => {
  it('orders the re-scored hits by itm + itc, then the rest by itc, and keeps topK', () => {
    const ranked = [0.9, 0.8, 0.7, 0.6].map((itc, index) => ({ index, itc }));
    expect(rerankHits(ranked, [-2, 1], 3)).toEqual<RetrievalHit[]>([
      { index: 1, itc: 0.8, itm: 1, score: 1.8 },
      { index: 0, itc: 0.9, itm: -2, score: -1.1 },
      { index: 2, itc: 0.7, score: 0.7 },
    ]);
    expect(rerankHits(ranked, [], 2)).toEqual([
      { index: 0, itc: 0.9, score: 0.9 },
      { index: 1, itc: 0.8, score: 0.8 },
    ]);
  });
});

describe(`Blip.retrieve: ${MODEL}`, () => {
  let blip: Blip;
  let embeddings: Float32Array[];

  beforeAll(async () => {
    blip = await Blip.open(MODEL, { intraOpNumThreads: 1 });
    embeddings = await blip.embedImages(imageBytes());
  });

  afterAll(async () => {
    await blip?.close();
  });

  it('ranks by ITC exactly like a brute-force ranking of the embeddings', async () => {
    expect(embeddings).toHaveLength(12);
    const packed = new Float32Array(embeddings.length * blip.embedDim!);
    embeddings.forEach((e, i) => packed.set(e, i * e.length));
    for (const { caption } of samples) {
      const [q] = await blip.embedTexts([caption]);
      const brute = embeddings
        .map((e, index) => ({ index, itc: dot(q!, e) }))
        .sort((a, b) => b.itc - a.itc || a.index - b.index);
      const hits = await blip.retrieve(caption, { embeddings }, { topK: 12 });
      expect(hits.map((h) => h.index)).toEqual(brute.map((b) => b.index));
      hits.forEach((h, i) => {
        expect(h.itc).toBeCloseTo(brute[i]!.itc, 6);
        expect(h.score).toBe(h.itc);
        expect(h.itm).toBeUndefined();
      });
      // The packed form ranks the same; the default topK is 10.
      expect(await blip.retrieve(caption, { embeddings: packed })).toEqual(hits.slice(0, 10));
    }
    expect(packed.length, 'the caller’s packed gallery is copied, not detached').toBe(12 * blip.embedDim!);
  });

  it('re-ranks the best k by the raw ITM match logit + ITC, as `match` computes them', async () => {
    const query = samples[3]!.caption;
    const images = imageBytes();
    const itcOnly = await blip.retrieve(query, { embeddings }, { topK: 12 });
    const hits = await blip.retrieve(query, { embeddings, images }, { topK: 8, rerank: 5 });
    expect(images.every((b) => b.length > 0), 'the gallery images are not detached').toBe(true);

    const reranked = hits.slice(0, 5);
    expect(new Set(reranked.map((h) => h.index))).toEqual(new Set(itcOnly.slice(0, 5).map((h) => h.index)));
    const matched = await blip.match(
      imageBytes(),
      reranked.map((h) => ({ image: h.index, text: query })),
    );
    reranked.forEach((h, i) => {
      const m = matched[i]!;
      // match's probability is the softmax of the same logits.
      expect(m.itm).toBeCloseTo(Math.exp(m.itmLogits[1]) / (Math.exp(m.itmLogits[0]) + Math.exp(m.itmLogits[1])), 6);
      expect(h.itm).toBeCloseTo(m.itmLogits[1], 4);
      expect(h.itc).toBeCloseTo(m.itc, 4);
      expect(h.score).toBeCloseTo(h.itm! + h.itc, 6);
    });
    for (let i = 1; i < reranked.length; i++) expect(reranked[i - 1]!.score).toBeGreaterThanOrEqual(reranked[i]!.score);
    // Beyond the re-ranked ones: ITC order, score = itc, no itm.
    expect(hits.slice(5)).toEqual(itcOnly.slice(5, 8));

    // A gallery of preprocessed pixels re-ranks the same.
    const S = blip.imageSizes.match!;
    const per = 3 * S * S;
    const pixels = new Float32Array(12 * per);
    const bytes = imageBytes();
    for (let i = 0; i < 12; i++) pixels.set(await preprocess(bytes[i]!, S, manifest.preprocess), i * per);
    const fromPixels = await blip.retrieve(query, { embeddings, images: { pixels, count: 12 } }, { topK: 8, rerank: 5 });
    expect(fromPixels.map((h) => h.index)).toEqual(hits.map((h) => h.index));
    fromPixels.forEach((h, i) => expect(h.score).toBeCloseTo(hits[i]!.score, 4));
    expect(pixels.length, 'the pixel gallery is not detached').toBe(12 * per);
  });

  it('finds the image of a clear caption, with and without re-ranking', async () => {
    for (const i of [2, 3, 6, 9]) {
      const { caption } = samples[i]!;
      for (const rerank of [0, 12]) {
        const [top] = await blip.retrieve(caption, { embeddings, images: imageBytes() }, { topK: 1, rerank });
        expect(exactCaptionMatch(caption, samples[top!.index]!.scene), `"${caption}" (rerank ${rerank}) found ${samples[top!.index]!.file}`).toBe(true);
      }
    }
  });

  it('refuses bad galleries and options with RetrievalError (a RangeError)', async () => {
    const expectRefusal = async (p: Promise<unknown>, code: string) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RetrievalError);
      expect(err).toBeInstanceOf(RangeError);
      expect((err as RetrievalError).code).toBe(code);
    };
    const q = samples[0]!.caption;
    await expectRefusal(blip.retrieve(q, { embeddings }, { rerank: 3 }), 'RERANK_NEEDS_IMAGES');
    await expectRefusal(blip.retrieve(q, { embeddings: embeddings.map(() => new Float32Array(256)) }), 'EMBEDDING_WIDTH');
    await expectRefusal(blip.retrieve(q, { embeddings: new Float32Array(blip.embedDim! * 3 + 1) }), 'EMBEDDING_WIDTH');
    await expectRefusal(blip.retrieve(q, { embeddings, images: imageBytes().slice(1) }, { rerank: 3 }), 'GALLERY_SIZE');
    await expectRefusal(blip.retrieve(q, { embeddings }, { topK: 0 }), 'INVALID_OPTION');
    await expectRefusal(blip.retrieve(q, { embeddings }, { rerank: 1.5 }), 'INVALID_OPTION');
    expect(await blip.retrieve(q, { embeddings: [] })).toEqual([]);
  });

  it('agrees with PyTorch: ITC over the fixture embeddings, ITM probabilities from the raw logits', async () => {
    const tol = fx.tolerance;
    expect(blip.embedDim).toBe(fx.embed.text_itc[0]!.length);
    // The manifest states the same width the graphs produce (an exporter bug once wrote 256 here).
    const manifest = JSON.parse(readFileSync(path.join(MODEL, 'manifest.json'), 'utf8'));
    expect(manifest.tasks.embed.embed_dim).toBe(blip.embedDim);
    expect(manifest.architecture.embed_dim).toBe(blip.embedDim);
    const gallery = fx.embed.image_itc.map((e) => Float32Array.from(e));
    let worst = 0;
    for (const [t, text] of fx.embed.texts.entries()) {
      const hits = await blip.retrieve(text, { embeddings: gallery }, { topK: gallery.length });
      for (const h of hits) {
        const expected = dot(fx.embed.text_itc[t]!, fx.embed.image_itc[h.index]!);
        worst = Math.max(worst, Math.abs(h.itc - expected));
      }
    }
    expect(worst).toBeLessThan(tol);

    const pixels = fixturePixels(fx, manifest.preprocess);
    const res = await blip.match({ pixels, count: fx.images.length }, fx.match.pairs, { firstToken: fx.match.first_token });
    res.forEach((r, i) => {
      const [l0, l1] = r.itmLogits;
      expect(Math.abs(1 / (1 + Math.exp(l0 - l1)) - fx.match.pairs[i]!.itm)).toBeLessThan(tol);
    });
  });
});
