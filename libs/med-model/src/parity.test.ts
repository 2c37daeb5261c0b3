/**
 * Parity with the PyTorch reference (fixtures/parity.json, written by tools/blip-export
 * shapes/fixtures.py on the same weights): identical token ids for greedy, beam-3 and nucleus
 * (fed the recorded uniform stream) captions and VQA answers, scores, ITM probabilities, ITC
 * cosines and embeddings within the fixture's tolerance (1e-4).
 *
 * Model directory: see test-model.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlipEngine, type Caption } from './engine.js';
import { PARITY_FIXTURE, REPO_ROOT, fixturePixels, testModelDir } from './test-model.js';



interface Gen {
  tokens: number[];
  text: string;
  score: number;
}
interface ParityFixture {
  model: string;
  image_size: number;
  tolerance: number;
  images: { file: string; caption: string; resized_rgb_b64: string }[];
  caption: {
    greedy_prompt: Gen[][];
    greedy_no_prompt: Gen[][];
    beam3_prompt: Gen[][];
    beam3_no_prompt: Gen[][];
    nucleus: {
      settings: {
        prompt: string;
        top_p: number;
        top_k: number;
        temperature: number;
        repetition_penalty: number;
        max_length: number;
        min_length: number;
        num_captions: number;
      };
      uniforms: number[];
      results: Gen[][];
    };
  };
  vqa: {
    questions: { image: number; question: string; truth: string }[];
    generate: { tokens: number[]; answer: string; score: number }[];
    rank: { candidates: string[]; k: number; results: { answer: string; score: number }[][] };
  };
  match: { first_token: 'enc' | 'cls'; pairs: { image: number; text: string; itm: number; itc: number }[] };
  embed: { image_itc: number[][]; texts: string[]; text_itc: number[][] };
}

const dir = testModelDir();
const fixturePath = path.join(dir, PARITY_FIXTURE);
const haveFixture = existsSync(fixturePath);

/** Largest |difference| per check, printed at the end. */
const maxDiff = new Map<string, number>();
function track(name: string, actual: number, expected: number): number {
  const d = Math.abs(actual - expected);
  maxDiff.set(name, Math.max(maxDiff.get(name) ?? 0, d));
  return d;
}

it(`has a parity fixture (${path.relative(REPO_ROOT, fixturePath) || fixturePath})`, () => {
  expect(haveFixture, `${fixturePath} is missing; set BLIP_MODEL_DIR to a model directory with ${PARITY_FIXTURE}`).toBe(true);
});

describe.runIf(haveFixture)(`parity with PyTorch: ${dir}`, () => {
  let fx: ParityFixture;
  let engine: BlipEngine;
  let pixels: Float32Array;
  let B: number;
  let tol: number;

  beforeAll(async () => {
    fx = JSON.parse(readFileSync(fixturePath, 'utf8')) as ParityFixture;
    tol = fx.tolerance;
    engine = await BlipEngine.load(dir, { intraOpNumThreads: 1 });
    B = fx.images.length;
    pixels = fixturePixels(fx, engine.manifest.preprocess);
  });

  afterAll(async () => {
    await engine?.release();
    const lines = [...maxDiff].map(([k, v]) => `  ${k.padEnd(28)} ${v.toExponential(2)}`);
    console.log(`parity max |ts - torch| (${dir}):\n${lines.join('\n')}`);
  });

  it('fixture was written for this export', () => {
    expect(fx.model).toBe(engine.version);
  });

  function compareCaptions(name: string, actual: Caption[][], expected: Gen[][]) {
    expect(actual.length).toBe(expected.length);
    expected.forEach((exp, i) => {
      expect(actual[i]!.map((g) => g.tokens), `${name} tokens of image ${i}`).toEqual(exp.map((g) => g.tokens));
      expect(actual[i]!.map((g) => g.text), `${name} text of image ${i}`).toEqual(exp.map((g) => g.text));
      exp.forEach((g, j) => {
        const d = track(name, actual[i]![j]!.score, g.score);
        expect(d, `${name} score of image ${i} #${j}: ${actual[i]![j]!.score} vs ${g.score}`).toBeLessThanOrEqual(tol);
      });
    });
  }

  it('greedy captions with the prompt', async () => {
    const res = await engine.caption(pixels, B, { mode: 'greedy', prompt: 'a picture of ', maxLength: 20, minLength: 5 });
    compareCaptions('greedy_prompt', res, fx.caption.greedy_prompt);
  });

  it('greedy captions without a prompt', async () => {
    const res = await engine.caption(pixels, B, { mode: 'greedy', prompt: '', maxLength: 20, minLength: 1 });
    compareCaptions('greedy_no_prompt', res, fx.caption.greedy_no_prompt);
  });

  it('beam-3 captions with the prompt (2 returned)', async () => {
    const res = await engine.caption(pixels, B, {
      mode: 'beam',
      prompt: 'a picture of ',
      numBeams: 3,
      maxLength: 20,
      minLength: 5,
      numCaptions: 2,
    });
    compareCaptions('beam3_prompt', res, fx.caption.beam3_prompt);
  });

  it('beam-3 captions without a prompt (2 returned)', async () => {
    const res = await engine.caption(pixels, B, {
      mode: 'beam',
      prompt: '',
      numBeams: 3,
      maxLength: 20,
      minLength: 1,
      numCaptions: 2,
    });
    compareCaptions('beam3_no_prompt', res, fx.caption.beam3_no_prompt);
  });

  it('nucleus captions from the recorded uniform stream', async () => {
    const n = fx.caption.nucleus;
    let pos = 0;
    const uniforms = (rows: number) => {
      const out = n.uniforms.slice(pos, pos + rows);
      if (out.length !== rows) throw new Error(`uniform stream exhausted at ${pos}`);
      pos += rows;
      return out;
    };
    const res = await engine.caption(pixels, B, {
      mode: 'nucleus',
      prompt: n.settings.prompt,
      topP: n.settings.top_p,
      topK: n.settings.top_k,
      temperature: n.settings.temperature,
      repetitionPenalty: n.settings.repetition_penalty,
      maxLength: n.settings.max_length,
      minLength: n.settings.min_length,
      numCaptions: n.settings.num_captions,
      uniforms,
    });
    compareCaptions('nucleus', res, n.results);
    expect(pos, 'uniform numbers consumed').toBe(n.uniforms.length);
  });

  it('VQA generate answers', async () => {
    const res = await engine.answer(pixels, fx.vqa.questions, { mode: 'generate' });
    expect(res.map((r) => r.tokens)).toEqual(fx.vqa.generate.map((g) => g.tokens));
    expect(res.map((r) => r.answer)).toEqual(fx.vqa.generate.map((g) => g.answer));
    fx.vqa.generate.forEach((g, i) => {
      expect(track('vqa_generate', res[i]!.score, g.score), `score of question ${i}`).toBeLessThanOrEqual(tol);
    });
  });

  it('VQA rank answers (order and scores)', async () => {
    const { candidates, k, results } = fx.vqa.rank;
    const res = await engine.answer(pixels, fx.vqa.questions, { mode: 'rank', candidates, k });
    results.forEach((exp, q) => {
      const got = res[q]!.slice(0, exp.length);
      expect(got.map((r) => r.answer), `ranking of question ${q}`).toEqual(exp.map((r) => r.answer));
      exp.forEach((r, j) => {
        expect(track('vqa_rank', got[j]!.score, r.score), `score of question ${q} #${j}`).toBeLessThanOrEqual(tol);
      });
    });
  });

  it('ITM probabilities and ITC cosines of pairs', async () => {
    const pairs = fx.match.pairs;
    const res = await engine.match(pixels, pairs, { firstToken: fx.match.first_token });
    pairs.forEach((p, i) => {
      expect(track('itm', res[i]!.itm, p.itm), `itm of pair ${i}`).toBeLessThanOrEqual(tol);
      expect(track('itc', res[i]!.itc, p.itc), `itc of pair ${i}`).toBeLessThanOrEqual(tol);
    });
  });

  it('image and text embeddings', async () => {
    const img = await engine.embedImages(pixels, B);
    const txt = await engine.embedTexts(fx.embed.texts);
    const cmp = (name: string, got: Float32Array[], exp: number[][]) => {
      expect(got.length).toBe(exp.length);
      exp.forEach((e, i) => {
        expect(got[i]!.length).toBe(e.length);
        let m = 0;
        e.forEach((v, d) => (m = Math.max(m, track(name, got[i]![d]!, v))));
        expect(m, `${name} row ${i}`).toBeLessThanOrEqual(tol);
      });
    };
    cmp('image_itc', img, fx.embed.image_itc);
    cmp('text_itc', txt, fx.embed.text_itc);
  });
});
