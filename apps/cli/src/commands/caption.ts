/** `blip caption <inputs...>`: caption images in batches, one JSON line per input. */
import { CaptionOptionsSchema } from '@blip-jobs/shared';
import { Option, type Command } from 'commander';
import { runCommand, type Cli } from '../cli.js';
import { CliError, ExitCode } from '../errors.js';
import { expandInputs } from '../inputs.js';
import { intArg } from '../options.js';
import { captionRecord, writeRecords } from '../records.js';
import { exitCodeOf, runJobs } from '../run-jobs.js';
import { checkOptions } from '../validate.js';

interface CaptionOpts {
  beam?: number;
  nucleus?: boolean;
  captions?: number;
  seed?: number;
  out?: string;
  priority?: number;
  idempotencyKey?: string;
}

type CaptionOptions = NonNullable<Parameters<Cli['client']['caption']['submit']['mutate']>[0]['options']>;

/** Only what was asked for: everything else takes the model's defaults, as the API documents. */
function captionOptions(o: CaptionOpts): CaptionOptions {
  return {
    mode: o.nucleus ? 'nucleus' : 'beam',
    ...(o.beam !== undefined ? { numBeams: o.beam } : {}),
    ...(o.captions !== undefined ? { numCaptions: o.captions } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
}

async function caption(cli: Cli, inputs: string[], o: CaptionOpts): Promise<ExitCode> {
  const { images, skipped } = await expandInputs(inputs);
  if (skipped > 0) cli.out.note(`skipped ${skipped} non-image file${skipped === 1 ? '' : 's'}`);
  if (images.length === 0) throw new CliError('no images to caption', ExitCode.usage);
  const options = captionOptions(o);
  checkOptions(CaptionOptionsSchema, options);
  const { batchIds, results } = await runJobs(cli, {
    task: 'caption',
    items: images,
    image: (img) => img.source,
    idempotencyKey: o.idempotencyKey,
    submit: (chunk, idempotencyKey) =>
      cli.client.caption.submit.mutate({ items: chunk.map(({ image }) => ({ image })), options, priority: o.priority, idempotencyKey }),
  });
  const records = results.map(({ item, outcome }) => captionRecord(item.input, outcome));
  if (!(await writeRecords(cli.out, records, o.out))) {
    for (const { item, outcome: r } of results) {
      cli.out.result(`${item.input}\t${'output' in r ? r.output.captions.map((c) => c.text).join(' | ') : `${r.state}: ${r.failure.code}: ${r.failure.message}`}`);
    }
  }
  const completed = results.filter((r) => r.outcome.state === 'completed').length;
  const failed = results.length - completed;
  if (o.out && cli.out.json) cli.out.data({ out: o.out, total: results.length, completed, failed, batchIds });
  cli.out.summary(`${completed} of ${results.length} captioned${failed ? `, ${failed} failed` : ''}${o.out ? ` → ${o.out}` : ''} (batch ${batchIds.join(', ')})`);
  return exitCodeOf(results);
}

export function registerCaption(program: Command): void {
  program
    .command('caption')
    .description('caption images: files, directories, glob patterns, s3:// or https:// URIs, or a manifest.jsonl ({"image": …} per line)')
    .argument('<inputs...>', 'images to caption')
    .option('--beam <n>', 'beam search with n beams (the default mode)', intArg)
    .addOption(new Option('--nucleus', 'nucleus sampling instead of beam search').conflicts('beam'))
    .option('--captions <n>', 'captions per image', intArg)
    .option('--seed <n>', 'seed for nucleus sampling', intArg)
    .option('--out <file>', 'write one JSON line per input to this file')
    .option('--priority <n>', 'job priority, 1 (soonest) to 1000', intArg)
    .option('--idempotency-key <key>', 'submitting again with the same key returns the same jobs')
    .action((inputs: string[], o: CaptionOpts, cmd: Command) => runCommand(cmd, (cli) => caption(cli, inputs, o)));
}
