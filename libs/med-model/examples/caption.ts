/**
 * Caption and question images with the bundled tiny model through the library, in process.
 *   npm run example:caption -- [image files...] [--ask "what color is the circle?"]
 * Defaults to the bundled shapes samples. The job system (queues, workers, API) comes later.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Blip } from '../src/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const askAt = args.indexOf('--ask');
const question = askAt >= 0 ? args.splice(askAt, 2)[1] : undefined;
const samples = path.join(repo, 'datasets/shapes-samples');
const files = args.length ? args : readdirSync(samples).filter((f) => f.endsWith('.png')).map((f) => path.join(samples, f));

const blip = await Blip.open(process.env['BLIP_MODEL_DIR'] ?? path.join(repo, 'models/blip-tiny-shapes'));
try {
  const read = () => files.map((f) => new Uint8Array(readFileSync(f)));
  const captions = await blip.caption(read(), { mode: 'beam', numBeams: 3 });
  const answers = question
    ? await blip.answer(read(), files.map((_, image) => ({ image, question })), { mode: 'generate' })
    : undefined;
  files.forEach((f, i) => {
    const best = captions[i]?.[0];
    const a = answers ? `  | ${question} → ${answers[i]?.answer}` : '';
    console.log(`${path.basename(f)}: ${best?.text} (score ${best?.score.toFixed(3)})${a}`);
  });
} finally {
  await blip.close();
}
