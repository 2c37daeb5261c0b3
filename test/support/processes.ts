/**
 * The apps as real child processes (API and GPU workers are separate processes in production,
 * and a worker must be killable with SIGKILL mid-batch). Each runs TypeScript through tsx from
 * the repository root; stdout/stderr go to test/output/logs/{name}.log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OUTPUT_DIR = path.join(REPO_ROOT, 'test', 'output');

export { freePort } from '@blip-jobs/shared/testing';

export class AppProcess {
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly httpUrl: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  /** Starts `entry` (relative to the repo root) and waits until `{httpUrl}/health/ready` answers 200. */
  static async start(name: string, entry: string, env: Record<string, string>, httpUrl: string, readyTimeoutMs = 60_000): Promise<AppProcess> {
    mkdirSync(path.join(OUTPUT_DIR, 'logs'), { recursive: true });
    const log = createWriteStream(path.join(OUTPUT_DIR, 'logs', `${name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const app = new AppProcess(name, child, httpUrl);
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready (see test/output/logs/${name}.log)`);
      try {
        const res = await fetch(`${httpUrl}/health/ready`);
        if (res.status === 200) return app;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGKILL');
    throw new Error(`${name} was not ready within ${readyTimeoutMs} ms (see test/output/logs/${name}.log)`);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends `signal` and waits for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}
