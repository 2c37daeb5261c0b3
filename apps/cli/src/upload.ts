/**
 * Local files go to the platform's storage before they are submitted: `uploads.create` gives a
 * presigned (S3) or API-signed URL to PUT the bytes to, and an `upload:` id to submit. The image
 * bytes never travel through a tRPC request or Redis.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { mapPool } from './async.js';
import type { Cli } from './cli.js';
import { CliError, ExitCode, describeError, exitCodeFor } from './errors.js';
import { imageContentType, type ImageSource } from './inputs.js';
import { progressBar } from './progress.js';
import { retryWhenLimited } from './retry.js';

/** PUTs in flight at once: enough to hide latency, few enough not to swamp a laptop's uplink. */
const UPLOAD_CONCURRENCY = 8;

async function uploadFile(cli: Cli, file: string): Promise<string> {
  const body = await readFile(file);
  const contentType = imageContentType(file);
  try {
    const ticket = await retryWhenLimited(() => cli.client.uploads.create.mutate({ contentType, bytes: body.length }));
    const res = await fetch(ticket.url, {
      method: 'PUT',
      body,
      headers: contentType ? { 'content-type': contentType } : {},
    });
    if (!res.ok) {
      const detail = (await res.text()).trim().slice(0, 200);
      throw new CliError(`upload failed: HTTP ${res.status}${detail ? ` ${detail}` : ''}`, res.status === 413 ? ExitCode.usage : ExitCode.failed);
    }
    return ticket.uploadId;
  } catch (err) {
    const code = exitCodeFor(err);
    // A refused key or an unreachable API is not this file's problem: say it once, as it is.
    if (code === ExitCode.unreachable) throw err;
    throw new CliError(`${path.relative('.', file) || file}: ${describeError(err)}`, code);
  }
}

/** The image reference to submit for each source, in order; each distinct file is uploaded once. */
export async function resolveSources(cli: Cli, sources: readonly ImageSource[]): Promise<string[]> {
  const files = [...new Set(sources.flatMap((s) => (s.kind === 'file' ? [s.path] : [])))];
  const ids = new Map<string, string>();
  if (files.length > 0) {
    const bar = progressBar(cli.out, 'upload', files.length);
    let done = 0;
    try {
      await mapPool(files, UPLOAD_CONCURRENCY, async (file) => {
        ids.set(file, await uploadFile(cli, file));
        bar.update(++done);
      });
    } finally {
      bar.stop();
    }
  }
  return sources.map((s) => (s.kind === 'uri' ? s.uri : (ids.get(s.path) as string)));
}
