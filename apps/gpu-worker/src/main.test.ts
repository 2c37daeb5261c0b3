/** The entry point as a process: exit codes and messages, readiness, and a graceful SIGTERM. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@blip-jobs/shared/testing';
import { WorkerRegistry } from '@blip-jobs/shared';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `t-${randomUUID()}`;
const redis = new Redis(REDIS_URL);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gpu-worker-main-'));
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: Promise<number | null>;
  output: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

function runMain(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/gpu-worker/src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      STORAGE_URL: dir,
      MODEL_CACHE_DIR: path.join(dir, 'cache'),
      ORT_THREADS: '1',
      WORKER_HTTP_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    code: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    output: () => out,
    kill: (signal) => child.kill(signal),
  };
}


describe('main.ts', () => {
  it('exits 2 naming the bad variable', async () => {
    const run = runMain({ WORKER_CONCURRENCY: 'lots', WORKER_TASKS: 'caption,paint' });
    expect(await run.code).toBe(2);
    expect(run.output()).toMatch(/invalid configuration/);
    expect(run.output()).toMatch(/WORKER_CONCURRENCY/);
    expect(run.output()).toMatch(/WORKER_TASKS/);
  });

  it('exits 1 when the model does not load', async () => {
    const run = runMain({ MODEL_DIR: path.join(dir, 'no-such-model') });
    expect(await run.code).toBe(1);
    expect(run.output()).toMatch(/gpu-worker cannot start/);
    expect(run.output()).toMatch(/no-such-model/);
  });

  it('becomes ready, then stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const run = runMain({ MODEL_DIR: 'models/blip-tiny-shapes', WORKER_HTTP_PORT: String(port), API_KEYS: 'acme:sekret-key' });
    const url = `http://127.0.0.1:${port}/health/ready`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await fetch(url).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`not ready in time:\n${run.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await new WorkerRegistry(redis, prefix).live()).toHaveLength(1);
    expect(run.output()).not.toContain('sekret-key');
    run.kill('SIGTERM');
    expect(await run.code).toBe(0);
    expect(await new WorkerRegistry(redis, prefix).live()).toHaveLength(0);
    expect(run.output()).toMatch(/worker stopped/);
  });
});
