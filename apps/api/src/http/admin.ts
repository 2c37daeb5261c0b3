/**
 * Operator endpoints: /metrics and the bull-board dashboard at /admin/queues. Both take ADMIN_KEY
 * as `Authorization: Bearer <key>` (Prometheus, scripts) or HTTP basic auth with the key as the
 * password (browsers ask for it by themselves).
 */
import { createHash } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { RequestHandler, Router } from 'express';
import { sameDigest } from '../services/auth.js';
import type { JobQueues } from '../services/job-queues.js';
import type { ApiMetrics } from '../services/metrics.js';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The key a request offers: a Bearer token, or the password of basic auth. */
function offeredKey(authorization: string | undefined): string | null {
  const [scheme, value] = (authorization ?? '').split(/\s+/, 2);
  if (!value) return null;
  if (/^bearer$/i.test(scheme ?? '')) return value;
  if (!/^basic$/i.test(scheme ?? '')) return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1);
}

/** Lets a request through when it offers ADMIN_KEY; otherwise 401 with a basic-auth challenge. */
export function adminGuard(adminKey: string): RequestHandler {
  const expected = sha256(adminKey);
  return (req, res, next) => {
    const key = offeredKey(req.headers.authorization);
    if (key !== null && sameDigest(sha256(key), expected)) return next();
    res
      .status(401)
      .set('WWW-Authenticate', 'Basic realm="blip-jobs admin", charset="UTF-8"')
      .json({ error: 'admin key required: "Authorization: Bearer <ADMIN_KEY>", or basic auth with ADMIN_KEY as the password' });
  };
}

export function metricsHandler(metrics: ApiMetrics): RequestHandler {
  return async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}

/** The bull-board UI and its JSON API over every task queue, to mount at `basePath`. */
export function queueDashboard(queues: JobQueues, basePath: string): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  // @bull-board/express pins its own patch release of @bull-board/api: same shapes, separate declarations.
  createBullBoard({ queues: queues.all().map((q) => new BullMQAdapter(q)), serverAdapter: adapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'] });
  return adapter.getRouter() as Router;
}
