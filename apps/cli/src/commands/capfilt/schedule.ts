/** `blip capfilt schedule set|list|rm`: refresh schedules, each firing starting a run. */
import type { Command } from 'commander';
import { runCommand } from '../../cli.js';
import { ExitCode } from '../../errors.js';
import { formatTable } from '../../output.js';
import { addParamOptions, paramsFrom, type ParamOpts } from './params.js';

interface SetOpts extends ParamOpts {
  cron: string;
  tz: string;
  out: string;
}

const when = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

export function registerCapfiltSchedule(capfilt: Command): void {
  const schedule = capfilt.command('schedule').description('refresh schedules: each firing starts a run');

  addParamOptions(
    schedule
      .command('set')
      .description('create or replace a schedule')
      .argument('<id>', 'schedule id: letters, digits, ".", "_" or "-"')
      .argument('<input>', 's3://bucket/prefix, or a key prefix in the platform storage')
      .requiredOption('--cron <expr>', 'cron expression of 5 or 6 fields, e.g. "0 3 * * *"')
      .option('--tz <zone>', 'IANA time zone the cron expression is read in', 'UTC')
      .requiredOption('--out <output>', 'where each run writes (same forms as <input>)'),
  ).action((scheduleId: string, input: string, o: SetOpts, cmd: Command) =>
    runCommand(cmd, async (cli) => {
      const s = await cli.client.capfilt.schedule.upsert.mutate({
        scheduleId,
        pattern: o.cron,
        tz: o.tz,
        request: { input, output: o.out, params: paramsFrom(o) },
      });
      if (cli.out.json) cli.out.data(s);
      cli.out.result(`schedule ${s.scheduleId}: "${s.pattern ?? ''}" (${s.tz ?? 'UTC'}), next run ${when(s.next) || 'not planned'}`);
      return ExitCode.ok;
    }),
  );

  schedule
    .command('list')
    .description('list schedules')
    .action((_o: unknown, cmd: Command) =>
      runCommand(cmd, async (cli) => {
        const all = await cli.client.capfilt.schedule.list.query();
        if (cli.out.json) all.forEach((s) => cli.out.data(s));
        else if (all.length === 0) cli.out.summary('no schedules');
        else {
          const rows = all.map((s) => [s.scheduleId, s.pattern ?? '', s.tz ?? '', when(s.next), s.request ? `${s.request.input} → ${s.request.output}` : '']);
          cli.out.result(formatTable(['schedule', 'cron', 'tz', 'next', 'input → output'], rows));
        }
        return ExitCode.ok;
      }),
    );

  schedule
    .command('rm')
    .description('remove a schedule (runs it started are kept)')
    .argument('<id>', 'schedule id')
    .action((scheduleId: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async (cli) => {
        await cli.client.capfilt.schedule.remove.mutate({ scheduleId });
        if (cli.out.json) cli.out.data({ scheduleId, removed: true });
        cli.out.result(`removed schedule ${scheduleId}`);
        return ExitCode.ok;
      }),
    );
}
