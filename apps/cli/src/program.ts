/** The `blip` command line: global options, the commands, and the exit codes in --help. */
import { Command, Option } from 'commander';
import { DEFAULT_API_KEY, DEFAULT_API_URL } from './cli.js';
import { registerAsk } from './commands/ask.js';
import { registerCapfilt } from './commands/capfilt/index.js';
import { registerCaption } from './commands/caption.js';
import { registerFilter } from './commands/filter.js';
import { registerJobs } from './commands/jobs.js';
import { registerQueues } from './commands/queues.js';
import { registerWatch } from './commands/watch.js';
import { EXIT_CODES_HELP } from './errors.js';

export function buildProgram(): Command {
  const program = new Command('blip')
    .description('Submit BLIP captioning, VQA, filtering and CapFilt jobs to a blip-jobs API and follow them.')
    .addOption(new Option('--api <url>', 'API base URL').env('BLIP_API_URL').default(DEFAULT_API_URL))
    .addOption(new Option('--key <key>', 'API key').env('BLIP_API_KEY').default(DEFAULT_API_KEY))
    .option('--json', 'machine-readable output on stdout (JSON Lines), no progress bars')
    .option('--quiet', 'print results and errors only')
    .option('--debug', 'print stack traces with errors')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(add --help for usage)')
    // Commander errors are thrown, not exited on, so main maps them to exit code 2.
    .exitOverride();
  // Registered after exitOverride: subcommands inherit it (and the output settings) on creation.
  registerCaption(program);
  registerAsk(program);
  registerFilter(program);
  registerCapfilt(program);
  registerJobs(program);
  registerWatch(program);
  registerQueues(program);
  return program;
}
