/**
 * Readiness: the API can serve only when Redis answers and storage is reachable. Each check has a
 * deadline, because ioredis queues commands while it reconnects and a probe must not hang.
 */
import type { ObjectStorage } from '@blip-jobs/shared/storage';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type CheckResult = 'ok' | 'unavailable';

export interface Readiness {
  ready: boolean;
  /** Per dependency; details go to the log, not to unauthenticated callers. */
  checks: { redis: CheckResult; storage: CheckResult };
}

export interface ReadinessOptions {
  redis: Redis;
  storage: ObjectStorage;
  log: Logger;
  /** Deadline of each check; default 2000 ms. */
  timeoutMs?: number;
}

export class ReadinessProbe {
  constructor(private readonly opts: ReadinessOptions) {}

  async check(): Promise<Readiness> {
    const [redis, storage] = await Promise.all([
      this.run('redis', () => this.opts.redis.ping()),
      // Any answer, object or not, proves the backend reachable.
      this.run('storage', () => this.opts.storage.head('health/probe')),
    ]);
    return { ready: redis === 'ok' && storage === 'ok', checks: { redis, storage } };
  }

  private async run(name: string, probe: () => Promise<unknown>): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.opts.timeoutMs ?? 2000} ms`)), this.opts.timeoutMs ?? 2000);
    });
    try {
      await Promise.race([probe(), deadline]);
      return 'ok';
    } catch (err) {
      this.opts.log.warn({ err, check: name }, 'readiness check failed');
      return 'unavailable';
    } finally {
      clearTimeout(timer);
    }
  }
}
