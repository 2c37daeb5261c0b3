/**
 * Entry point: `tsx apps/gpu-worker/src/main.ts` (configuration from the environment, see the root
 * README). Exits 0 after a graceful SIGTERM/SIGINT shutdown, 2 on bad configuration, 1 when the
 * worker cannot start (model that fails to load, Redis or storage unusable) or when a model's
 * worker thread dies while serving.
 */
import { pino } from 'pino';
import { loadConfig, type Config } from '@blip-jobs/shared';
import { GpuWorker } from './gpu-worker.js';

/** The configuration as logged: secrets replaced, URL credentials masked. */
function loggable(config: Config): Record<string, unknown> {
  const maskUrl = (u: string | undefined) => u?.replace(/\/\/([^@/]*)@/, '//***@');
  return {
    ...config,
    REDIS_URL: maskUrl(config.REDIS_URL),
    S3_ENDPOINT: maskUrl(config.S3_ENDPOINT),
    API_KEYS: config.API_KEYS ? '[redacted]' : '',
    ADMIN_KEY: config.ADMIN_KEY === undefined ? undefined : '[redacted]',
    UPLOAD_SIGNING_SECRET: config.UPLOAD_SIGNING_SECRET === undefined ? undefined : '[redacted]',
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`gpu-worker: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.LOG_LEVEL, base: { service: 'gpu-worker' } });
  logger.info({ config: loggable(config) }, 'starting');

  let stopping = false;
  const worker = new GpuWorker(config, {
    logger,
    // A dead model cannot come back in this process: release what is held, exit non-zero, and
    // let the orchestrator start a fresh one (jobs in flight are retried, queued ones wait).
    onFatal: () => {
      if (stopping) return;
      stopping = true;
      worker.close().finally(() => process.exit(1));
    },
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing active jobs');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    worker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  try {
    await worker.start();
  } catch (err) {
    if (stopping) return; // a signal interrupted the start; stop() exits
    logger.fatal({ err }, `gpu-worker cannot start: ${(err as Error).message}`);
    await worker.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
