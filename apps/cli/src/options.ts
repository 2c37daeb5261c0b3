/**
 * Option value parsers. They only turn text into numbers and lists; ranges are the API's to check,
 * so its message (naming the field) is the one the user sees.
 */
import { InvalidArgumentError } from 'commander';

export function intArg(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('expected an integer.');
  return Number(value);
}

export function numberArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
}

/** `a,b, c` → `['a', 'b', 'c']`. */
export function listArg(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
