import type { Stack } from './stack.js';

type Client = ReturnType<Stack['client']>;

/** Polls batches.get until no job is pending; returns the final batch info. */
export async function waitForBatch(client: Client, batchId: string, timeoutMs = 240_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = await client.batches.get.query({ batchId });
    if (b.pending === 0) return b;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} still has ${b.pending} of ${b.total} jobs pending after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Polls jobs.get until the job is completed or failed. */
export async function waitForJob(client: Client, jobId: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await client.jobs.get.query({ jobId });
    if (j.state === 'completed' || j.state === 'failed') return j;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is still ${j.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
