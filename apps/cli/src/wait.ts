/**
 * Waiting for batches by polling `batches.get` (every 500 ms): a stateless loop that survives an
 * API restart or a dropped connection, where a subscription would have to be resumed.
 */
import type { BatchInfo } from '@blip-jobs/shared';
import { sleep } from './async.js';
import type { Cli } from './cli.js';
import { isUnreachable } from './errors.js';
import { interruptHint } from './interrupt.js';
import { progressBar, type Progress } from './progress.js';

const POLL_MS = 500;
/** How long polls may go unanswered (API restarting, network gone) before the wait gives up. */
const UNREACHABLE_GIVE_UP_MS = 60_000;

interface WaitOptions {
  /** The progress bar's label. */
  label: string;
  /** Printed on Ctrl-C. */
  hint: string;
  /** Called with every batch whenever the number of finished jobs changes, first at once. */
  onChange?: (batches: BatchInfo[]) => void;
}

export async function waitForBatches(cli: Cli, batchIds: readonly string[], opts: WaitOptions): Promise<BatchInfo[]> {
  const disposeHint = interruptHint(() => opts.hint);
  let bar: Progress | null = null;
  let lastFinished = -1;
  let lastAnswer = Date.now();
  try {
    for (;;) {
      let infos: BatchInfo[];
      try {
        infos = await Promise.all(batchIds.map((batchId) => cli.client.batches.get.query({ batchId })));
        lastAnswer = Date.now();
      } catch (err) {
        // An error the API sent (NOT_FOUND, a refused key) will not go away by asking again.
        if (!isUnreachable(err) || Date.now() - lastAnswer > UNREACHABLE_GIVE_UP_MS) throw err;
        await sleep(POLL_MS);
        continue;
      }
      const sum = (f: (b: BatchInfo) => number) => infos.reduce((a, b) => a + f(b), 0);
      const finished = sum((b) => b.total - b.pending);
      bar ??= progressBar(cli.out, opts.label, sum((b) => b.total));
      const failed = sum((b) => b.counts.failed + b.counts.cancelled);
      bar.update(finished, failed ? `${failed} failed or cancelled` : '');
      if (finished !== lastFinished) {
        lastFinished = finished;
        opts.onChange?.(infos);
      }
      if (infos.every((b) => b.pending <= 0)) return infos;
      await sleep(POLL_MS);
    }
  } finally {
    bar?.stop();
    disposeHint();
  }
}
