import { batchesRouter } from './routers/batches.js';
import { capfiltRouter } from './routers/capfilt.js';
import { captionRouter } from './routers/caption.js';
import { embedRouter } from './routers/embed.js';
import { filterRouter } from './routers/filter.js';
import { healthRouter } from './routers/health.js';
import { jobsRouter } from './routers/jobs.js';
import { queuesRouter } from './routers/queues.js';
import { uploadsRouter } from './routers/uploads.js';
import { vqaRouter } from './routers/vqa.js';
import { router } from './trpc.js';

export const appRouter = router({
  caption: captionRouter,
  vqa: vqaRouter,
  filter: filterRouter,
  embed: embedRouter,
  jobs: jobsRouter,
  batches: batchesRouter,
  queues: queuesRouter,
  uploads: uploadsRouter,
  health: healthRouter,
  capfilt: capfiltRouter,
});

export type AppRouter = typeof appRouter;
