/**
 * Entry point: `tsx apps/api/src/main.ts`. Reads the configuration from the environment (exit 2
 * listing every bad variable; exit 1 when the API cannot start), serves until SIGTERM or SIGINT,
 * then closes gracefully.
 */
import { loadConfig, type Config } from '@blip-jobs/shared';
import { createApi, type Api } from './app.js';

function fail(code: number, err: unknown): never {
  process.stderr.write(`blip-api: ${(err as Error).message}\n`);
  process.exit(code);
}

let config: Config;
let api: Api;
try {
  config = loadConfig();
} catch (err) {
  fail(2, err);
}
try {
  api = await createApi(config);
  await api.listen();
} catch (err) {
  fail(1, err);
}

const log = api.services.log;
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    api.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
