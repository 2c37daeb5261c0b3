/**
 * Why a model directory was refused.
 * - MANIFEST_INVALID: manifest.json is missing, not JSON, fails the schema, or contradicts itself
 *   (a task naming an unknown graph, a graph file that `files` does not list, ...).
 * - FILE_MISSING: a file listed in `files` is not on disk (or is not a regular file).
 * - CHECKSUM_MISMATCH: a listed file has another byte length or sha256 than the manifest says.
 * - GRAPH_MISMATCH: a loaded graph's inputs/outputs differ from the manifest, or an unknown
 *   graph name was asked for.
 */
export type ModelDirectoryErrorCode =
  | 'MANIFEST_INVALID'
  | 'FILE_MISSING'
  | 'CHECKSUM_MISMATCH'
  | 'GRAPH_MISMATCH';

export interface ModelDirectoryErrorDetails {
  /** Model directory the error is about. */
  dir?: string;
  /** File inside the model directory, relative to it. */
  file?: string;
  /** Dotted manifest field path, e.g. `tasks.caption.graphs.decoder`. */
  field?: string;
  expected?: unknown;
  found?: unknown;
  cause?: unknown;
}

export class ModelDirectoryError extends Error {
  override readonly name = 'ModelDirectoryError';
  readonly code: ModelDirectoryErrorCode;
  readonly dir: string | undefined;
  readonly file: string | undefined;
  readonly field: string | undefined;
  readonly expected: unknown;
  readonly found: unknown;

  constructor(code: ModelDirectoryErrorCode, message: string, details: ModelDirectoryErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.dir = details.dir;
    this.file = details.file;
    this.field = details.field;
    this.expected = details.expected;
    this.found = details.found;
  }
}

export function isModelDirectoryError(err: unknown, code?: ModelDirectoryErrorCode): err is ModelDirectoryError {
  return err instanceof ModelDirectoryError && (code === undefined || err.code === code);
}
