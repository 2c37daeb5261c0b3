/**
 * Exit codes and the one-line messages errors end as. Scripts branch on the code: fix the input
 * (2), check the URL or key (3), or look at the jobs that failed (1).
 */
import { CommanderError } from 'commander';

export const ExitCode = {
  ok: 0,
  /** Some jobs failed or were cancelled, a CapFilt run failed, or the API failed a request. */
  failed: 1,
  /** Bad arguments or input, or the API rejected the request (BAD_REQUEST and the like). */
  usage: 2,
  /** The API cannot be reached, or it refused the key. */
  unreachable: 3,
  /** Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    some jobs failed or were cancelled, a CapFilt run failed, or the API failed a request
  2    usage or validation error (the API's message names the field)
  3    the API cannot be reached, or it refused the API key
  130  interrupted (Ctrl-C); submitted jobs keep running on the server`;

/** An error the CLI raises itself, with the exit code it ends in. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** What the API's error formatter puts in `error.data` (apps/api/src/trpc.ts). */
interface ApiErrorData {
  code?: string;
  retryAfterS?: number;
  state?: string;
  failure?: { code: string; message: string } | null;
}

/**
 * A TRPCClientError, recognised by name: the CLI does not depend on @trpc/client itself. `data` is
 * absent when no tRPC answer came back (connection refused, DNS, a proxy's HTML page).
 */
interface ClientErrorLike extends Error {
  data?: ApiErrorData | null;
}

function asClientError(err: unknown): ClientErrorLike | null {
  return err instanceof Error && err.name === 'TRPCClientError' ? (err as ClientErrorLike) : null;
}

/** The API's error data (code, retryAfterS, a failed job's state and failure), if the API answered. */
export function apiErrorData(err: unknown): ApiErrorData | null {
  return asClientError(err)?.data ?? null;
}

/** No tRPC answer came back: worth asking again a little later. */
export function isUnreachable(err: unknown): boolean {
  const client = asClientError(err);
  return client !== null && !client.data;
}

const USAGE_CODES = new Set(['BAD_REQUEST', 'PARSE_ERROR', 'PAYLOAD_TOO_LARGE', 'NOT_FOUND', 'CONFLICT', 'PRECONDITION_FAILED', 'UNPROCESSABLE_CONTENT']);
const AUTH_CODES = new Set(['UNAUTHORIZED', 'FORBIDDEN']);
/** Local file problems are the caller's to fix, like a bad argument. */
const FILE_ERRNOS = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM']);

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  // Help and version end in 0; every other commander error is a usage error.
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  const client = asClientError(err);
  if (client) {
    const code = client.data?.code;
    if (code === undefined) return ExitCode.unreachable;
    if (AUTH_CODES.has(code)) return ExitCode.unreachable;
    if (USAGE_CODES.has(code)) return ExitCode.usage;
    return ExitCode.failed;
  }
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof errno === 'string' && FILE_ERRNOS.has(errno)) return ExitCode.usage;
  return ExitCode.failed;
}

/** The innermost cause's message: `fetch failed` says less than `connect ECONNREFUSED 127.0.0.1:3000`. */
function rootMessage(err: Error): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  // An AggregateError (happy eyeballs over IPv4 and IPv6) has no message of its own.
  if (e instanceof AggregateError && !e.message) e = e.errors[0];
  return e instanceof Error && e.message ? e.message : err.message;
}

/** One line for stderr. */
export function describeError(err: unknown): string {
  const client = asClientError(err);
  if (client) {
    const code = client.data?.code;
    if (code === undefined) return `cannot reach the API (${rootMessage(client)})`;
    if (AUTH_CODES.has(code)) return `the API refused the key: ${client.message} (set --key or BLIP_API_KEY)`;
    return client.message;
  }
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${rootMessage(err)})` : err.message;
  return String(err);
}
