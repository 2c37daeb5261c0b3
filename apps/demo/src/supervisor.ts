/**
 * The demo's child processes (redis-server if needed, the API, a worker): started with their
 * output in ./data/logs, watched, and stopped in order on Ctrl-C — workers first (they finish the
 * batch in flight), then the API, then Redis — so nothing is orphaned and no job is lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';

export class Supervisor {
  private readonly children: { name: string; child: ChildProcess }[] = [];

  constructor(private readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
  }

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const log = createWriteStream(path.join(this.logDir, `${name}.log`), { flags: 'a' });
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.children.push({ name, child });
    return child;
  }

  /** Node scripts run through tsx (TypeScript sources, as everywhere in this repository). */
  startNode(name: string, entry: string, env: NodeJS.ProcessEnv): ChildProcess {
    return this.start(name, process.execPath, ['--import', 'tsx', entry], env);
  }

  /** Resolves when `url` answers 200, rejects when `child` exits first or time runs out. */
  async waitReady(name: string, child: ChildProcess, url: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}; see ${path.join(this.logDir, `${name}.log`)}`);
      try {
        if ((await fetch(url)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${name} was not ready within ${timeoutMs / 1000} s; see ${path.join(this.logDir, `${name}.log`)}`);
  }

  /** Stops children in reverse start order with SIGTERM, SIGKILL after `graceMs`. */
  async stopAll(graceMs = 30_000): Promise<void> {
    for (const { child } of [...this.children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
  }
}
