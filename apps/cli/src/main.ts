/** `blip`: the command-line client of the blip-jobs API (`tsx apps/cli/src/main.ts --help`). */
import { CommanderError } from 'commander';
import { describeError, exitCodeFor } from './errors.js';
import { installInterruptHandler } from './interrupt.js';
import { buildProgram } from './program.js';

installInterruptHandler();
// A reader that stops early (`blip … --json | head -1`) has what it wanted: stop quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});
const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander printed its own message (usage errors, --help) already.
  if (!(err instanceof CommanderError)) {
    process.stderr.write(`blip: ${describeError(err)}\n`);
    if (program.opts<{ debug?: boolean }>().debug && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
  }
  process.exitCode = exitCodeFor(err);
}
