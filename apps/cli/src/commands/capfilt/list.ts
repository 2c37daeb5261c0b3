/** `blip capfilt list`: the tenant's recent runs, newest first. */
import type { Command } from 'commander';
import { runCommand } from '../../cli.js';
import { ExitCode } from '../../errors.js';
import { formatTable } from '../../output.js';

export function registerCapfiltList(capfilt: Command): void {
  capfilt
    .command('list')
    .description('list recent runs, newest first')
    .action((_o: unknown, cmd: Command) =>
      runCommand(cmd, async (cli) => {
        const runs = await cli.client.capfilt.runs.query();
        if (cli.out.json) runs.forEach((r) => cli.out.data(r));
        else if (runs.length === 0) cli.out.summary('no runs');
        else {
          const rows = runs.map((r) => [r.runId, r.state, `${r.shardsDone}/${r.shards}`, new Date(r.startedAt).toISOString(), r.scheduleId ?? '']);
          cli.out.result(formatTable(['run', 'state', 'shards', 'started', 'schedule'], rows));
        }
        return ExitCode.ok;
      }),
    );
}
