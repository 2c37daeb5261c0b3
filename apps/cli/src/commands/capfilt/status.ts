/** `blip capfilt status <runId>`: a run's state, shards done, and its summary once complete. */
import type { Command } from 'commander';
import { runCommand, type Cli } from '../../cli.js';
import { ExitCode } from '../../errors.js';

export type RunStatus = Awaited<ReturnType<Cli['client']['capfilt']['get']['query']>>;

export function printRun(cli: Cli, run: RunStatus): void {
  if (cli.out.json) {
    cli.out.data(run);
    return;
  }
  cli.out.result(`${run.runId}  ${run.state}`);
  cli.out.result(`  input    ${run.input}`);
  cli.out.result(`  output   ${run.output}`);
  cli.out.result(`  shards   ${run.shardsDone} of ${run.shards} done`);
  cli.out.result(`  started  ${new Date(run.startedAt).toISOString()}${run.scheduleId ? ` (schedule ${run.scheduleId})` : ''}`);
  if (run.failedReason) cli.out.result(`  failed   ${run.failedReason}`);
  if (run.summary && typeof run.summary === 'object') {
    cli.out.result('  summary');
    for (const [k, v] of Object.entries(run.summary)) cli.out.result(`    ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
}

export function runExitCode(run: RunStatus): ExitCode {
  return run.state === 'failed' ? ExitCode.failed : ExitCode.ok;
}

export function registerCapfiltStatus(capfilt: Command): void {
  capfilt
    .command('status')
    .description('show a run: state, shards done, summary')
    .argument('<runId>', 'the run id `capfilt run` printed')
    .action((runId: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async (cli) => {
        const run = await cli.client.capfilt.get.query({ runId });
        printRun(cli, run);
        return runExitCode(run);
      }),
    );
}
