/** `blip filter <pairs.jsonl>`: score image-text pairs (ITM, ITC) and keep those that match. */
import { FilterOptionsSchema } from '@blip-jobs/shared';
import type { Command } from 'commander';
import { runCommand, type Cli } from '../cli.js';
import { CliError, ExitCode } from '../errors.js';
import { formatTable } from '../output.js';
import { readImageRecords } from '../inputs.js';
import { intArg, numberArg } from '../options.js';
import { filterRecord, writeRecords } from '../records.js';
import { exitCodeOf, runJobs } from '../run-jobs.js';
import { checkOptions } from '../validate.js';

interface FilterOpts {
  threshold?: number;
  out?: string;
  priority?: number;
  idempotencyKey?: string;
}

async function filter(cli: Cli, file: string, o: FilterOpts): Promise<ExitCode> {
  const options = o.threshold !== undefined ? { threshold: o.threshold } : {};
  checkOptions(FilterOptionsSchema, options);
  const pairs = await readImageRecords(file, ['text']);
  if (pairs.length === 0) throw new CliError(`${file}: no pairs`, ExitCode.usage);
  const { batchIds, results } = await runJobs(cli, {
    task: 'filter',
    items: pairs,
    image: (p) => p.source,
    idempotencyKey: o.idempotencyKey,
    submit: (chunk, idempotencyKey) =>
      cli.client.filter.submit.mutate({
        items: chunk.map(({ item, image }) => ({ image, text: item.text })),
        options,
        priority: o.priority,
        idempotencyKey,
      }),
  });
  const records = results.map(({ item, outcome }) => filterRecord({ image: item.image, text: item.text }, outcome));
  if (!(await writeRecords(cli.out, records, o.out))) {
    const rows = results.map(({ item, outcome: r }) =>
      'output' in r
        ? [r.output.keep ? 'keep' : 'drop', r.output.itm.toFixed(3), r.output.itc.toFixed(3), item.image, item.text]
        : [r.state, '', '', item.image, `${r.failure.code}: ${r.failure.message}`],
    );
    cli.out.result(formatTable(['', 'itm', 'itc', 'image', 'text'], rows));
  }
  const kept = results.filter((r) => 'output' in r.outcome && r.outcome.output.keep).length;
  const failed = results.filter((r) => r.outcome.state !== 'completed').length;
  if (o.out && cli.out.json) cli.out.data({ out: o.out, total: results.length, kept, failed, batchIds });
  cli.out.summary(`kept ${kept} of ${results.length} pairs${failed ? `, ${failed} failed` : ''}${o.out ? ` → ${o.out}` : ''} (batch ${batchIds.join(', ')})`);
  return exitCodeOf(results);
}

export function registerFilter(program: Command): void {
  program
    .command('filter')
    .description('score image-text pairs from a JSON Lines file ({"image": …, "text": …} per line) and keep the matching ones')
    .argument('<pairs.jsonl>', 'the pairs; image paths are relative to this file')
    .option('--threshold <p>', 'keep a pair when its ITM match probability is at least this (API default 0.5)', numberArg)
    .option('--out <file>', 'write one JSON line per pair to this file')
    .option('--priority <n>', 'job priority, 1 (soonest) to 1000', intArg)
    .option('--idempotency-key <key>', 'submitting again with the same key returns the same jobs')
    .action((file: string, o: FilterOpts, cmd: Command) => runCommand(cmd, (cli) => filter(cli, file, o)));
}
