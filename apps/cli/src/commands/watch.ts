/** `blip watch <batchId>`: a batch's progress until every job finished. */
import type { Command } from 'commander';
import { runCommand, type Cli } from '../cli.js';
import { ExitCode } from '../errors.js';
import { waitForBatches } from '../wait.js';

async function watch(cli: Cli, batchId: string): Promise<ExitCode> {
  const [batch] = await waitForBatches(cli, [batchId], {
    label: 'jobs',
    hint: 'Interrupted: stopped watching; the jobs keep running.',
    // --json: the batch each time more of its jobs finished, as batches.watch streams it.
    onChange: ([b]) => {
      if (cli.out.json) cli.out.data(b);
    },
  });
  if (!batch) throw new Error(`no answer for batch ${batchId}`);
  const { completed, failed, cancelled } = batch.counts;
  cli.out.summary(`${batch.batchId}: ${completed} completed, ${failed} failed, ${cancelled} cancelled (of ${batch.total})`);
  return failed + cancelled > 0 ? ExitCode.failed : ExitCode.ok;
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('follow a batch until all its jobs finished (--json: one line per change)')
    .argument('<batchId>', 'the batch id a submit printed')
    .action((batchId: string, _o: unknown, cmd: Command) => runCommand(cmd, (cli) => watch(cli, batchId)));
}
