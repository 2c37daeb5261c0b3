import { sleep } from './async.js';
import { apiErrorData } from './errors.js';

/** Each write counts against the tenant's requests per minute; a long run waits instead of failing. */
const MAX_ATTEMPTS = 6;

/**
 * Runs `call`, waiting out TOO_MANY_REQUESTS (rate limit or queued-jobs quota) for the seconds the
 * API names. Only for calls that are safe to repeat: uploads.create, or a submit with an
 * idempotency key.
 */
export async function retryWhenLimited<T>(call: () => Promise<T>, onWait?: (seconds: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const data = apiErrorData(err);
      if (data?.code !== 'TOO_MANY_REQUESTS' || attempt >= MAX_ATTEMPTS) throw err;
      const seconds = data.retryAfterS ?? 1;
      onWait?.(seconds);
      await sleep(seconds * 1000);
    }
  }
}
