import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { freePort } from '@blip-jobs/shared/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Runs main.ts as `tsx apps/api/src/main.ts` does; `whileUp` runs once /health/ready answers 200, then SIGTERM. */
async function runMain(env: Record<string, string>, whileUp?: (url: string) => Promise<void>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/main.ts'], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (whileUp) {
    const url = `http://127.0.0.1:${env['API_PORT']}`;
    for (let up = false; !up; ) {
      if (child.exitCode !== null) break;
      up = await fetch(`${url}/health/ready`).then((r) => r.status === 200, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 100));
      else {
        await whileUp(url);
        child.kill('SIGTERM');
      }
    }
  }
  return { code: await exited, stderr };
}


describe('main', () => {
  it('exits 2 and names every bad variable', async () => {
    const { code, stderr } = await runMain({ API_PORT: 'eighty', JOB_ATTEMPTS: '0' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/invalid configuration/);
    expect(stderr).toMatch(/API_PORT/);
    expect(stderr).toMatch(/JOB_ATTEMPTS/);
  });

  it('exits 1 on malformed API keys', async () => {
    const { code, stderr } = await runMain({ API_KEYS: 'no-colon-here' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/API_KEYS entry .* is not tenant:key/);
  });

  it('serves until SIGTERM, then exits 0', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'blip-main-'));
    const port = await freePort();
    const prefix = `api-main-${randomUUID().slice(0, 8)}`;
    try {
      const { code } = await runMain(
        { API_PORT: String(port), API_HOST: '127.0.0.1', QUEUE_PREFIX: prefix, STORAGE_URL: dir, API_KEYS: 'acme:k' },
        async (url) => {
          const res = await fetch(`${url}/trpc/queues.stats`, { headers: { authorization: 'Bearer k' } });
          expect(res.status).toBe(200);
        },
      );
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
      const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  }, 30_000);
});
