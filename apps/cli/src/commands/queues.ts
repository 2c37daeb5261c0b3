/** `blip queues`: per-task queue depths, throughput and live workers, refreshed every second. */
import type { Command } from 'commander';
import { sleep } from '../async.js';
import { runCommand, type Cli } from '../cli.js';
import { ExitCode } from '../errors.js';
import { formatTable } from '../output.js';

type Stats = Awaited<ReturnType<Cli['client']['queues']['stats']['query']>>;

const REFRESH_MS = 1000;

function formatStats(stats: Stats): string {
  const rows = stats.queues.map((q) => [
    q.task,
    q.counts.waiting,
    q.counts.prioritized,
    q.counts.delayed,
    q.counts.active,
    q.counts.completed,
    q.counts.failed,
    q.throughput.itemsPerS.toFixed(1),
    q.throughput.averageBatchSize.toFixed(1),
    q.workers.length,
  ]);
  const table = formatTable(['task', 'waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'items/s', 'avg batch', 'workers'], rows);
  return `${table}\n\nlive workers: ${stats.liveWorkers}`;
}

async function queues(cli: Cli, once: boolean): Promise<ExitCode> {
  // Redraw in place on a terminal; elsewhere (a pipe, a log) print one table after another.
  const redraw = !once && !cli.out.json && process.stdout.isTTY === true;
  let drawnLines = 0;
  for (;;) {
    const stats = await cli.client.queues.stats.query();
    if (cli.out.json) cli.out.data(stats);
    else {
      const text = `${formatStats(stats)}\n`;
      if (redraw && drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}A\x1b[0J`);
      process.stdout.write(redraw || once ? text : `${new Date().toISOString()}\n${text}\n`);
      drawnLines = text.split('\n').length - 1;
    }
    if (once) return ExitCode.ok;
    await sleep(REFRESH_MS);
  }
}

export function registerQueues(program: Command): void {
  program
    .command('queues')
    .description('live table of the task queues: depths, items/s, average micro-batch size, workers (Ctrl-C ends it)')
    .option('--once', 'print once and exit')
    .action((o: { once?: boolean }, cmd: Command) => runCommand(cmd, (cli) => queues(cli, o.once === true)));
}
