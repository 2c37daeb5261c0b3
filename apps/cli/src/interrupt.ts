/**
 * Ctrl-C. Nothing is cancelled on the server: jobs already submitted keep running, so whoever is
 * waiting leaves a hint (how to pick them up again) before the CLI exits with 130.
 */
import { ExitCode } from './errors.js';

const cleanups = new Set<() => void>();
const hints = new Set<() => string>();

function register<T>(set: Set<T>, item: T): () => void {
  set.add(item);
  return () => {
    set.delete(item);
  };
}

/** Installed once by main. */
export function installInterruptHandler(): void {
  process.once('SIGINT', () => {
    // Bars first, so the hints print on clean lines below them.
    for (const c of cleanups) c();
    const text = [...hints].map((h) => h()).join('\n');
    process.stderr.write(`\n${text || 'interrupted'}\n`);
    process.exit(ExitCode.interrupted);
  });
}

/** Runs `fn` (stop a bar, restore the terminal) on Ctrl-C, until the returned function is called. */
export function onInterrupt(fn: () => void): () => void {
  return register(cleanups, fn);
}

/** Prints `hint()` on Ctrl-C, until the returned function is called. */
export function interruptHint(hint: () => string): () => void {
  return register(hints, hint);
}
