/**
 * `npm run demo` from scratch: no Redis at REDIS_URL, so it starts its own redis-server; it
 * submits the bundled samples through the API, prints each result, and (with --exit) shuts
 * everything down — the captions are the model's, and no process is left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Blip } from '@blip-jobs/med-model';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, freePort } from '../support/processes.js';
import { SAMPLES } from '../support/samples.js';
import { MODEL_DIR } from '../support/stack.js';

let dataDir: string;
afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('starts Redis, API and worker, prints the model’s results, and stops everything', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'blip-demo-'));
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'apps/demo/src/main.ts', '--exit'], {
      cwd: REPO_ROOT,
      env: { ...process.env, REDIS_URL: deadRedis, DEMO_DATA_DIR: dataDir, API_PORT: String(await freePort()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out).toBe(0);

    const started = /Redis: started \S+ on (redis:\/\/127\.0\.0\.1:\d+)/.exec(out);
    expect(started, out).not.toBeNull();
    const captions = [...out.matchAll(/\] (sample-\d+\.png) {2}caption: "([^"]*)"/g)].map((m) => ({ file: m[1]!, text: m[2]! }));
    expect(captions).toHaveLength(12);
    const blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1, transferInputs: false });
    const expected = await blip.caption(SAMPLES.map((s) => s.bytes), { mode: 'beam' });
    await blip.close();
    for (const c of captions) expect(c.text).toBe(expected[SAMPLES.findIndex((s) => s.file === c.file)]![0]!.text);
    expect(out).toMatch(/\[36\/36\]/);
    expect(out).toMatch(/Page: +http:\/\/127\.0\.0\.1:\d+\//);

    // The redis-server it started is gone.
    const r = new Redis(started![1]!, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    await expect(r.connect()).rejects.toThrow();
    r.disconnect();
  });
});
