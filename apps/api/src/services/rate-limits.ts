/**
 * Per-tenant request rate, counted in Redis so that every API replica shares one budget.
 */
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RetryLaterError } from '../errors.js';

export interface TenantRateLimiterOptions {
  redis: Redis;
  /** Redis key prefix (QUEUE_PREFIX); the limiter's keys live under `{prefix}:ratelimit:`. */
  prefix: string;
  /** Requests a tenant may make per minute (TENANT_REQUESTS_PER_MINUTE). */
  perMinute: number;
}

export class TenantRateLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(opts: TenantRateLimiterOptions) {
    this.limiter = new RateLimiterRedis({
      storeClient: opts.redis,
      keyPrefix: `${opts.prefix}:ratelimit`,
      points: opts.perMinute,
      duration: 60,
    });
  }

  /** Counts one request; throws RetryLaterError('rate') once the minute's budget is spent. */
  async consume(tenant: string): Promise<void> {
    try {
      await this.limiter.consume(tenant);
    } catch (err) {
      // The limiter rejects with its result object when over budget, with an Error when Redis fails.
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfterS = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new RetryLaterError('rate', retryAfterS, `too many requests: at most ${this.limiter.points} per minute; retry in ${retryAfterS} s`);
    }
  }
}
