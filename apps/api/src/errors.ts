/**
 * Errors the API raises on purpose. Each is a TRPCError (so tRPC keeps the code and the HTTP
 * status) that carries what a client needs to act on it; the error formatter in trpc.ts copies
 * those fields into `error.data`.
 */
import { TRPCError } from '@trpc/server';
import type { JobFailure } from '@blip-jobs/shared';

/** One problem with the input: `path` as dotted segments (`items.3.question`). */
export interface InputIssue {
  path: string;
  message: string;
}

export function formatIssue(issue: InputIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** A request that passed the schema but names something unusable (an image, a batch size). */
export class InputError extends TRPCError {
  readonly issue: InputIssue;

  constructor(code: 'BAD_REQUEST' | 'NOT_FOUND' | 'PAYLOAD_TOO_LARGE', issue: InputIssue) {
    super({ code, message: formatIssue(issue) });
    this.issue = issue;
  }
}

export type RetryReason = 'quota' | 'rate';

/** TOO_MANY_REQUESTS with the seconds to wait (also sent as the Retry-After header). */
export class RetryLaterError extends TRPCError {
  constructor(
    readonly reason: RetryReason,
    readonly retryAfterS: number,
    message: string,
  ) {
    super({ code: 'TOO_MANY_REQUESTS', message });
  }
}

/** A job has no result to read: still running, or failed (with the worker's reason). */
export class NoResultError extends TRPCError {
  constructor(
    readonly jobId: string,
    readonly state: string,
    readonly failure: JobFailure | null,
  ) {
    super({
      code: 'PRECONDITION_FAILED',
      message: failure
        ? `job ${jobId} failed (${failure.code}: ${failure.message}); it has no result`
        : `job ${jobId} is ${state}; its result exists once it is completed (watch it with jobs.watch)`,
    });
  }
}

/** The same message for a job or batch that does not exist and one of another tenant. */
export function notFound(kind: 'job' | 'batch', id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `${kind} ${id} not found` });
}
