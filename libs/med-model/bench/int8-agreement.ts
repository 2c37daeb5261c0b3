/**
 * How often the int8 export (tools/blip-export `blip.quantize`) gives the same answers as the
 * float32 model it came from, through this runtime, on the held-out shapes split: beam-3 captions
 * (the manifest's decoding) and generated VQA answers, compared as text.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Blip } from '../src/index.js';

interface Row {
  file: string;
  questions: [string, string][];
}

export interface Int8Agreement {
  split: string;
  images: number;
  questions: number;
  caption_identical: number;
  vqa_generate_identical: number;
  caption_examples_differing: Array<{ file: string; float32: string; int8: string }>;
}

async function predict(dir: string, split: string, rows: Row[], threads: number) {
  const blip = await Blip.open(dir, { intraOpNumThreads: threads });
  const captions: string[] = [];
  const answers: string[] = [];
  try {
    for (let i = 0; i < rows.length; i += 50) {
      const chunk = rows.slice(i, i + 50);
      const read = () => chunk.map((r) => new Uint8Array(readFileSync(path.join(split, r.file))));
      for (const c of await blip.caption(read())) captions.push(c[0]?.text ?? '');
      const questions = chunk.flatMap((r, image) => r.questions.map(([question]) => ({ image, question })));
      for (const a of await blip.answer(read(), questions, { mode: 'generate' })) answers.push(a.answer);
    }
  } finally {
    await blip.close();
  }
  return { captions, answers };
}

export async function int8Agreement(float32Dir: string, int8Dir: string, split: string, threads: number): Promise<Int8Agreement> {
  const rows = readFileSync(path.join(split, 'labels.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Row);
  const a = await predict(float32Dir, split, rows, threads);
  const b = await predict(int8Dir, split, rows, threads);
  const share = (x: string[], y: string[]) => Number((x.filter((v, i) => v === y[i]).length / x.length).toFixed(4));
  return {
    split,
    images: rows.length,
    questions: a.answers.length,
    caption_identical: share(a.captions, b.captions),
    vqa_generate_identical: share(a.answers, b.answers),
    caption_examples_differing: rows
      .map((r, i) => ({ file: r.file, float32: a.captions[i] ?? '', int8: b.captions[i] ?? '' }))
      .filter((d) => d.float32 !== d.int8)
      .slice(0, 5),
  };
}

// `npx tsx libs/med-model/bench/int8-agreement.ts FLOAT32_DIR INT8_DIR [split]`: the comparison
// alone (bench:model runs it for the default policy; this compares any `blip.quantize` output).
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [float32Dir, int8Dir, split = 'datasets/shapes-test'] = process.argv.slice(2);
  if (!float32Dir || !int8Dir) throw new Error('usage: int8-agreement.ts FLOAT32_DIR INT8_DIR [SPLIT_DIR]');
  console.log(JSON.stringify(await int8Agreement(path.resolve(float32Dir), path.resolve(int8Dir), path.resolve(split), 2), null, 1));
}
