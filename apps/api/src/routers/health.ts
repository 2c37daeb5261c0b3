import { publicProcedure, router } from '../trpc.js';

/** No API key needed: for load balancers and humans (Kubernetes probes use GET /health/live and /health/ready). */
export const healthRouter = router({
  live: publicProcedure.query(() => ({ status: 'ok' as const })),
  /** Redis answers and storage is reachable. */
  ready: publicProcedure.query(({ ctx }) => ctx.services.readiness.check()),
});
