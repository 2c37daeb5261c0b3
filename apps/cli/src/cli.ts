/** What every command gets from the global options: the typed API client and the output. */
import { createBlipClient, type BlipClient } from '@blip-jobs/api/client';
import type { Command } from 'commander';
import type { ExitCode } from './errors.js';
import { Output } from './output.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';
/** The key `npm run demo` starts its API with. */
export const DEFAULT_API_KEY = 'demo-key';

interface GlobalOptions {
  api: string;
  key: string;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

export interface Cli {
  client: BlipClient;
  out: Output;
  /** The API URL, for commands the user can run later (`blip watch …`). */
  api: string;
}

export function cliFrom(cmd: Command): Cli {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  return { client: createBlipClient({ url: o.api, apiKey: o.key }), out: new Output(o.json === true, o.quiet === true), api: o.api };
}

/** `blip <args>` as the user would type it again, with --api when it is not the default. */
export function commandLine(cli: Cli, args: string): string {
  return cli.api === DEFAULT_API_URL ? `blip ${args}` : `blip ${args} --api ${cli.api}`;
}

/** Runs a command's body with the client and output of the global options; its exit code is the process's. */
export async function runCommand(cmd: Command, body: (cli: Cli) => Promise<ExitCode>): Promise<void> {
  process.exitCode = await body(cliFrom(cmd));
}
