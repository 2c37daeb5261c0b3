/** `blip jobs <jobId>`: one job's state, its failure, or its result. */
import type { JobResult } from '@blip-jobs/shared';
import type { Command } from 'commander';
import { runCommand, type Cli } from '../cli.js';
import { ExitCode } from '../errors.js';

/** A result's output in a line or a few, by task. */
function describeOutput(result: JobResult): string[] {
  const o = result.output;
  if ('captions' in o) return o.captions.map((c) => `${c.text}  (score ${c.score.toFixed(3)})`);
  if ('answer' in o) return [`${o.answer}  (score ${o.score.toFixed(3)})`];
  if ('itm' in o) return [`${o.keep ? 'keep' : 'drop'}  itm ${o.itm.toFixed(3)}  itc ${o.itc.toFixed(3)}  (threshold ${o.threshold})`];
  return [`embedding of ${o.embedding.length} values`];
}

async function showJob(cli: Cli, jobId: string): Promise<ExitCode> {
  const job = await cli.client.jobs.get.query({ jobId });
  const result = job.state === 'completed' ? await cli.client.jobs.result.query({ jobId }) : null;
  if (cli.out.json) cli.out.data({ ...job, ...(result ? { output: result.output } : {}) });
  else {
    cli.out.result(`${job.jobId}  ${job.state}`);
    cli.out.result(`  task       ${job.task} (batch ${job.batchId})`);
    cli.out.result(`  submitted  ${new Date(job.submittedAt).toISOString()}${job.finishedAt ? `, finished ${new Date(job.finishedAt).toISOString()}` : ''}`);
    cli.out.result(`  attempts   ${job.attemptsMade}`);
    if (job.failure) cli.out.result(`  failure    ${job.failure.code}: ${job.failure.message}`);
    if (result) {
      cli.out.result(`  model      ${result.modelVersion}`);
      for (const line of describeOutput(result)) cli.out.result(`  result     ${line}`);
    }
  }
  return job.state === 'failed' ? ExitCode.failed : ExitCode.ok;
}

export function registerJobs(program: Command): void {
  program
    .command('jobs')
    .description("show a job: state, failure, or result")
    .argument('<jobId>', 'a job id, as in the "jobId" of result lines')
    .action((jobId: string, _o: unknown, cmd: Command) => runCommand(cmd, (cli) => showJob(cli, jobId)));
}
