/**
 * Run the held-out shapes split through the runtime (sharp preprocessing, onnxruntime sessions in
 * the worker) and write its predictions; `shapes.evaluate --predictions` scores them with the same
 * parser as the PyTorch evaluation, so the two accuracies can be compared.
 *   npm run example:predict-shapes -- [out.jsonl]
 */
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Blip } from '../src/index.js';

interface Row {
  id: string;
  file: string;
  questions: [string, string][];
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const split = path.join(repo, 'datasets/shapes-test');
const out = process.argv[2] ?? path.join(repo, 'bench/results/shapes-test-predictions.jsonl');
const rows = readFileSync(path.join(split, 'labels.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Row);
const modelDir = process.env['BLIP_MODEL_DIR'] ?? path.join(repo, 'models/blip-tiny-shapes');
// Candidates for ranked VQA: the answer vocabulary the PyTorch fixtures were made with.
const parity = JSON.parse(readFileSync(path.join(modelDir, 'fixtures/parity.json'), 'utf8')) as { vqa: { rank: { candidates: string[] } } };
const candidates = parity.vqa.rank.candidates;

const blip = await Blip.open(modelDir);
const sink = createWriteStream(out);
const t0 = performance.now();
try {
  for (let i = 0; i < rows.length; i += 50) {
    const chunk = rows.slice(i, i + 50);
    const read = () => chunk.map((r) => new Uint8Array(readFileSync(path.join(split, r.file))));
    const questions = chunk.flatMap((r, image) => r.questions.map(([question]) => ({ image, question })));
    const captions = await blip.caption(read(), { mode: 'beam', numBeams: 3 });
    const generated = await blip.answer(read(), questions, { mode: 'generate' });
    const ranked = await blip.answer(read(), questions, { mode: 'rank', candidates });
    let q = 0;
    chunk.forEach((r, j) => {
      const n = r.questions.length;
      sink.write(
        JSON.stringify({
          id: r.id,
          caption: captions[j]?.[0]?.text ?? '',
          answers_generate: generated.slice(q, q + n).map((a) => a.answer),
          answers_rank: ranked.slice(q, q + n).map((a) => a[0]?.answer ?? ''),
        }) + '\n',
      );
      q += n;
    });
  }
} finally {
  await new Promise((resolve) => sink.end(resolve));
  await blip.close();
}
console.log(`wrote ${rows.length} predictions to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
