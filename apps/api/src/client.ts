/**
 * The typed client for this API (`import { createBlipClient } from '@blip-jobs/api/client'`).
 * Queries and mutations go over batched HTTP with the key in the Authorization header;
 * subscriptions over SSE, which cannot carry headers, with the key in connectionParams.
 * Only types come from the server code, so a client bundle holds none of it.
 */
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { FetchEventSource } from './event-source.js';
import type { AppRouter } from './router.js';

export type { AppRouter };

export interface BlipClientOptions {
  /** Base URL of the API (`http://127.0.0.1:3000`); a trailing `/trpc` is accepted too. */
  url: string;
  apiKey: string;
}

export function createBlipClient({ url, apiKey }: BlipClientOptions) {
  const base = url.replace(/\/+$/, '');
  const trpcUrl = base.endsWith('/trpc') ? base : `${base}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: trpcUrl,
          connectionParams: { apiKey },
          EventSource: globalThis.EventSource ?? FetchEventSource,
        }),
        false: httpBatchLink({
          url: trpcUrl,
          headers: { authorization: `Bearer ${apiKey}` },
          // Long batched GETs are split instead of hitting URL length limits.
          maxURLLength: 8000,
        }),
      }),
    ],
  });
}

export type BlipClient = ReturnType<typeof createBlipClient>;
