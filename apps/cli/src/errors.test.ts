import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBlipClient } from '@blip-jobs/api/client';
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, ExitCode, describeError, exitCodeFor } from './errors.js';

/** A server that answers every tRPC call with the error the API's formatter would send for `code`. */
let server: Server;
let url: string;
const STATUS: Record<string, number> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, TOO_MANY_REQUESTS: 429, INTERNAL_SERVER_ERROR: 500 };

beforeAll(async () => {
  server = createServer((req, res) => {
    const code = new URL(req.url ?? '/', 'http://x').searchParams.get('code') ?? 'BAD_REQUEST';
    const message = code === 'BAD_REQUEST' ? 'item.question: question must not be empty' : `${code.toLowerCase()} happened`;
    res.writeHead(STATUS[code] ?? 500, { 'content-type': 'application/json' });
    res.end(JSON.stringify([{ error: { message, code: -32600, data: { code, httpStatus: STATUS[code] } } }]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The error the real typed client throws when the API answers with `code`. */
async function apiError(code: string): Promise<unknown> {
  // The code rides in the query string of the batched GET, where the stub reads it.
  const client = createBlipClient({ url: `${url}/trpc?code=${code}&`, apiKey: 'k' });
  return client.queues.stats.query().then(
    () => expect.fail('the stub answers with errors only'),
    (e: unknown) => e,
  );
}

describe('exit codes', () => {
  it('map API validation errors to 2 with the server message, which names the field', async () => {
    const err = await apiError('BAD_REQUEST');
    expect(exitCodeFor(err)).toBe(ExitCode.usage);
    expect(describeError(err)).toBe('item.question: question must not be empty');
    expect(exitCodeFor(await apiError('NOT_FOUND'))).toBe(ExitCode.usage);
  });

  it('map a refused key and an unreachable API to 3', async () => {
    const refused = await apiError('UNAUTHORIZED');
    expect(exitCodeFor(refused)).toBe(ExitCode.unreachable);
    expect(describeError(refused)).toBe('the API refused the key: unauthorized happened (set --key or BLIP_API_KEY)');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await createBlipClient({ url: `http://127.0.0.1:${port}`, apiKey: 'k' })
      .queues.stats.query()
      .catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(ExitCode.unreachable);
    expect(describeError(err)).toBe(`cannot reach the API (connect ECONNREFUSED 127.0.0.1:${port})`);
  });

  it('map server failures and rate limits to 1', async () => {
    expect(exitCodeFor(await apiError('INTERNAL_SERVER_ERROR'))).toBe(ExitCode.failed);
    expect(exitCodeFor(await apiError('TOO_MANY_REQUESTS'))).toBe(ExitCode.failed);
    expect(exitCodeFor(new Error('boom'))).toBe(ExitCode.failed);
  });

  it('map usage errors from commander and local files to 2; help to 0', () => {
    expect(exitCodeFor(new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'inputs'"))).toBe(ExitCode.usage);
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toBe(ExitCode.ok);
    expect(exitCodeFor(Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' }))).toBe(ExitCode.usage);
  });

  it('keep the code a CliError carries', () => {
    expect(exitCodeFor(new CliError('no images to caption', ExitCode.usage))).toBe(ExitCode.usage);
    expect(describeError(new CliError('no images to caption', ExitCode.usage))).toBe('no images to caption');
  });
});
