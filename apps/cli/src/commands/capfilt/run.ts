/** `blip capfilt run <input> --out <output>`: bootstrap a corpus's captions (CapFilt) as a batch run. */
import type { Command } from 'commander';
import { sleep } from '../../async.js';
import { commandLine, runCommand, type Cli } from '../../cli.js';
import { ExitCode } from '../../errors.js';
import { interruptHint } from '../../interrupt.js';
import { progressBar } from '../../progress.js';
import { addParamOptions, paramsFrom, type ParamOpts } from './params.js';
import { printRun, runExitCode, type RunStatus } from './status.js';

interface RunOpts extends ParamOpts {
  out: string;
  wait?: boolean;
}

const POLL_MS = 1000;

async function waitForRun(cli: Cli, runId: string, shards: number): Promise<RunStatus> {
  const bar = progressBar(cli.out, 'capfilt', shards);
  const disposeHint = interruptHint(() => `Interrupted: the run keeps going. Check it with:\n  ${commandLine(cli, `capfilt status ${runId}`)}`);
  try {
    for (;;) {
      const run = await cli.client.capfilt.get.query({ runId });
      bar.update(run.shardsDone, run.state);
      if (run.state === 'completed' || run.state === 'failed') return run;
      await sleep(POLL_MS);
    }
  } finally {
    bar.stop();
    disposeHint();
  }
}

async function run(cli: Cli, input: string, o: RunOpts): Promise<ExitCode> {
  const { runId, shards } = await cli.client.capfilt.run.mutate({ input, output: o.out, params: paramsFrom(o) });
  if (!o.wait) {
    if (cli.out.json) cli.out.data({ runId, shards });
    cli.out.result(`${runId}: started over ${shards} shard${shards === 1 ? '' : 's'}`);
    cli.out.note(`check it with: ${commandLine(cli, `capfilt status ${runId}`)}`);
    return ExitCode.ok;
  }
  cli.out.note(`${runId}: started over ${shards} shard${shards === 1 ? '' : 's'}; waiting…`);
  const status = await waitForRun(cli, runId, shards);
  printRun(cli, status);
  return runExitCode(status);
}

export function registerCapfiltRun(capfilt: Command): void {
  addParamOptions(
    capfilt
      .command('run')
      .description('start a run over every shard (.tar WebDataset, .jsonl) under <input>')
      .argument('<input>', 's3://bucket/prefix, or a key prefix in the platform storage')
      .requiredOption('--out <output>', 'where output shards, stats and the summary go (same forms as <input>)')
      .option('--wait', 'wait for the run to finish and print its summary'),
  ).action((input: string, o: RunOpts, cmd: Command) => runCommand(cmd, (cli) => run(cli, input, o)));
}
