/** A cli-progress bar on stderr, or nothing when bars are off (--json, --quiet, not a terminal). */
import { Presets, SingleBar } from 'cli-progress';
import { onInterrupt } from './interrupt.js';
import type { Output } from './output.js';

export interface Progress {
  update(value: number, note?: string): void;
  stop(): void;
}

export function progressBar(out: Output, label: string, total: number): Progress {
  if (!out.progress) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    { format: `${label.padEnd(9)} [{bar}] {value}/{total} {percentage}% | {note}`, hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  bar.start(total, 0, { note: '' });
  const dispose = onInterrupt(() => bar.stop());
  return {
    update: (value, note = '') => bar.update(value, { note }),
    stop: () => {
      dispose();
      bar.stop();
    },
  };
}
