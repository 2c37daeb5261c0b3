/**
 * The path every image task takes: upload local files, submit in chunks the API accepts, wait
 * with a progress bar, then read each job's result or failure, in input order.
 */
import { randomUUID } from 'node:crypto';
import { LIMITS, type JobTask, type TaskOutputs } from '@blip-jobs/shared';
import { mapPool } from './async.js';
import { commandLine, type Cli } from './cli.js';
import { CliError, ExitCode, apiErrorData, describeError } from './errors.js';
import type { ImageSource } from './inputs.js';
import { retryWhenLimited } from './retry.js';
import { resolveSources } from './upload.js';
import { waitForBatches } from './wait.js';

export interface Submitted {
  batchId: string;
  jobIds: string[];
}

export type JobOutcome<O> =
  | { jobId: string; state: 'completed'; output: O }
  /** `state`: failed, or removed (cancelled, or past retention); `failure` says why. */
  | { jobId: string; state: string; failure: { code: string; message: string } };

/** Result reads in flight: queries, batched into few HTTP requests by the client. */
const RESULT_CONCURRENCY = 32;
/** Room for the `#<chunk>` suffix within the API's limit on idempotency keys. */
const MAX_IDEMPOTENCY_KEY_CHARS = LIMITS.maxIdempotencyKeyChars - 8;

export interface RunJobsOptions<T extends JobTask, I> {
  task: T;
  /** One job each, in this order. */
  items: readonly I[];
  image: (item: I) => ImageSource;
  /**
   * Submits one chunk (at most LIMITS.maxBatchItems) of items with their image references. Each
   * chunk has its own idempotency key derived from the run's, so a retried submit, or a rerun with
   * the same --idempotency-key, gets the same batch back.
   */
  submit: (chunk: { item: I; image: string }[], idempotencyKey: string) => Promise<Submitted>;
  idempotencyKey?: string;
}

export interface ItemOutcome<I, O> {
  item: I;
  outcome: JobOutcome<O>;
}

async function outcomeOf<O>(cli: Cli, jobId: string): Promise<JobOutcome<O>> {
  try {
    const result = await cli.client.jobs.result.query({ jobId });
    return { jobId, state: 'completed', output: result.output as O };
  } catch (err) {
    const data = apiErrorData(err);
    // Failed jobs have no result; the API's error carries their state and the worker's reason.
    if (data?.code === 'PRECONDITION_FAILED') {
      return { jobId, state: data.state ?? 'failed', failure: data.failure ?? { code: 'INTERNAL', message: describeError(err) } };
    }
    if (data?.code === 'NOT_FOUND') return { jobId, state: 'removed', failure: { code: 'NOT_FOUND', message: describeError(err) } };
    throw err;
  }
}

export async function runJobs<T extends JobTask, I>(
  cli: Cli,
  opts: RunJobsOptions<T, I>,
): Promise<{ batchIds: string[]; results: ItemOutcome<I, TaskOutputs[T]>[] }> {
  const runKey = opts.idempotencyKey ?? randomUUID();
  if (runKey.length > MAX_IDEMPOTENCY_KEY_CHARS || runKey.length === 0) {
    throw new CliError(`--idempotency-key must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} characters`, ExitCode.usage);
  }
  const images = await resolveSources(cli, opts.items.map(opts.image));
  const entries = opts.items.map((item, i) => ({ item, image: images[i] as string }));
  const batches: Submitted[] = [];
  for (let offset = 0; offset < entries.length; offset += LIMITS.maxBatchItems) {
    const chunk = entries.slice(offset, offset + LIMITS.maxBatchItems);
    const key = `${runKey}#${offset / LIMITS.maxBatchItems}`;
    batches.push(
      await retryWhenLimited(
        () => opts.submit(chunk, key),
        (s) => cli.out.note(`the API asks to slow down; submitting again in ${s} s`),
      ),
    );
  }
  const batchIds = batches.map((b) => b.batchId);
  const jobIds = batches.flatMap((b) => b.jobIds);
  if (jobIds.length !== entries.length) throw new Error(`the API returned ${jobIds.length} job ids for ${entries.length} items`);
  cli.out.note(`submitted ${jobIds.length} ${opts.task} job${jobIds.length === 1 ? '' : 's'} (batch ${batchIds.join(', ')}); waiting…`);
  await waitForBatches(cli, batchIds, {
    label: opts.task,
    hint: ['Interrupted: nothing was cancelled, the jobs keep running. Follow them with:', ...batchIds.map((id) => `  ${commandLine(cli, `watch ${id}`)}`)].join('\n'),
  });
  const results = await mapPool(opts.items, RESULT_CONCURRENCY, async (item, i) => ({
    item,
    outcome: await outcomeOf<TaskOutputs[T]>(cli, jobIds[i] as string),
  }));
  return { batchIds, results };
}

/** Exit code of a run: 1 when any job did not complete. */
export function exitCodeOf(results: readonly { outcome: JobOutcome<unknown> }[]): ExitCode {
  return results.every((r) => r.outcome.state === 'completed') ? ExitCode.ok : ExitCode.failed;
}
