import { formatFailure, type FailureCode } from '@blip-jobs/shared';

/**
 * Why one job could not be done, with the `FailureCode` the API shows its user. `transient`
 * errors (a 5xx, a timeout, storage briefly unavailable) are worth a retry with the job's backoff;
 * the others fail the job for good.
 */
export class JobError extends Error {
  override readonly name = 'JobError';

  constructor(
    readonly code: FailureCode,
    message: string,
    readonly transient = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `{code}: {message}`, the form the API parses back from a job's failedReason. */
  get reason(): string {
    return formatFailure({ code: this.code, message: this.message });
  }
}

export function isJobError(err: unknown): err is JobError {
  return err instanceof JobError;
}
