/** `blip ask <image> <question>`: visual question answering, generated or ranked among candidates. */
import { VqaOptionsSchema } from '@blip-jobs/shared';
import type { Command } from 'commander';
import { runCommand, type Cli } from '../cli.js';
import type { ExitCode } from '../errors.js';
import { resolveImage } from '../inputs.js';
import { listArg } from '../options.js';
import { answerRecord } from '../records.js';
import { exitCodeOf, runJobs } from '../run-jobs.js';
import { checkOptions } from '../validate.js';

interface AskOpts {
  rank?: string[];
}

async function ask(cli: Cli, image: string, question: string, o: AskOpts): Promise<ExitCode> {
  const options = o.rank ? { mode: 'rank' as const, candidates: o.rank } : { mode: 'generate' as const };
  checkOptions(VqaOptionsSchema, options);
  const source = await resolveImage(image);
  const { results } = await runJobs(cli, {
    task: 'vqa',
    items: [{ image, question }],
    image: () => source,
    submit: (chunk, idempotencyKey) =>
      cli.client.vqa.submit.mutate({
        items: chunk.map(({ image }) => ({ image, question })),
        options,
        idempotencyKey,
      }),
  });
  for (const { item, outcome } of results) {
    if (cli.out.json) cli.out.data(answerRecord(item, outcome));
    else if ('output' in outcome) {
      cli.out.result(`${outcome.output.answer}  (score ${outcome.output.score.toFixed(3)})`);
      const others = outcome.output.ranked?.slice(1, 5);
      if (others?.length) cli.out.summary(`  then: ${others.map((r) => `${r.answer} (${r.score.toFixed(3)})`).join(', ')}`);
    } else cli.out.result(`${outcome.state}: ${outcome.failure.code}: ${outcome.failure.message}`);
  }
  return exitCodeOf(results);
}

export function registerAsk(program: Command): void {
  program
    .command('ask')
    .description('answer a question about an image (a file, s3:// or https:// URI)')
    .argument('<image>', 'the image')
    .argument('<question>', 'the question, quoted')
    .option('--rank <candidates>', 'choose among these comma-separated answers instead of generating one', listArg)
    .action((image: string, question: string, o: AskOpts, cmd: Command) => runCommand(cmd, (cli) => ask(cli, image, question, o)));
}
