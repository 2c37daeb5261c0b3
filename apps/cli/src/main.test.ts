/** The CLI as a process: help, usage errors and an unreachable API end in their exit codes. */
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function blip(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, BLIP_API_URL: '', BLIP_API_KEY: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('blip', () => {
  it('--help lists the commands and the exit codes', () => {
    const r = blip('--help');
    expect(r.code).toBe(0);
    for (const cmd of ['caption', 'ask', 'filter', 'capfilt', 'jobs', 'watch', 'queues']) expect(r.stdout).toContain(`  ${cmd} `);
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*2 {4}usage or validation error[\s\S]*130/);
  });

  it('exits 2 on a usage error', () => {
    expect(blip('caption').code).toBe(2);
    expect(blip('caption', '--beam', 'three', 'x.png').code).toBe(2);
    expect(blip('caption', '--beam', '3', '--nucleus', 'x.png').code).toBe(2);
    const missing = blip('caption', 'no/such/file.png');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('blip: no/such/file.png: no such file or directory\n');
  });

  it('exits 3 with one line, no stack, when the API cannot be reached', async () => {
    // A port that was free a moment ago: nothing listens there.
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as AddressInfo;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    const r = blip('queues', '--once', '--api', `http://127.0.0.1:${port}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`blip: cannot reach the API (connect ECONNREFUSED 127.0.0.1:${port})\n`);
  });
});
