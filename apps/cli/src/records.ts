/**
 * The JSON Lines records commands write, one per input: the input's own fields, the job, its
 * state, then the task's output fields or `failure`.
 */
import { writeFile } from 'node:fs/promises';
import type { TaskOutputs } from '@blip-jobs/shared';
import { toJsonl, type Output } from './output.js';
import type { JobOutcome } from './run-jobs.js';

function jobRecord<O>(fields: Record<string, unknown>, outcome: JobOutcome<O>, output: (o: O) => Record<string, unknown>): Record<string, unknown> {
  const base = { ...fields, jobId: outcome.jobId, state: outcome.state };
  return 'output' in outcome ? { ...base, ...output(outcome.output) } : { ...base, failure: outcome.failure };
}

export function captionRecord(input: string, outcome: JobOutcome<TaskOutputs['caption']>): Record<string, unknown> {
  return jobRecord({ input }, outcome, (o) => ({ captions: o.captions }));
}

export function filterRecord(pair: { image: string; text: string }, outcome: JobOutcome<TaskOutputs['filter']>): Record<string, unknown> {
  return jobRecord(pair, outcome, (o) => ({ itm: o.itm, itc: o.itc, keep: o.keep }));
}

export function answerRecord(item: { image: string; question: string }, outcome: JobOutcome<TaskOutputs['vqa']>): Record<string, unknown> {
  return jobRecord(item, outcome, (o) => ({ answer: o.answer, score: o.score, ...(o.ranked ? { ranked: o.ranked } : {}) }));
}

/** Records go to `--out` as JSON Lines, else to stdout with --json; false when neither was asked for. */
export async function writeRecords(out: Output, records: readonly Record<string, unknown>[], file: string | undefined): Promise<boolean> {
  if (file) {
    await writeFile(file, toJsonl(records));
    return true;
  }
  if (out.json) {
    for (const r of records) out.data(r);
    return true;
  }
  return false;
}
