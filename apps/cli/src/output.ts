/**
 * Where output goes: results on stdout (JSON Lines with --json, text otherwise), notes and
 * progress for a person on stderr, so `blip … --json | jq` and `> file` see results only.
 */
function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

export function toJsonl(values: readonly unknown[]): string {
  return values.map(jsonLine).join('');
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number'));
  return cells
    .map((r) =>
      r
        .map((cell, c) => (numeric[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export class Output {
  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
  ) {}

  /** A result for a person (stdout); with --json the command calls `data` instead. */
  result(text: string): void {
    if (!this.json) process.stdout.write(`${text}\n`);
  }

  /** A closing summary for a person (stdout): not with --json or --quiet. */
  summary(text: string): void {
    if (!this.json && !this.quiet) process.stdout.write(`${text}\n`);
  }

  /** Machine-readable output: one JSON line on stdout. */
  data(value: unknown): void {
    process.stdout.write(jsonLine(value));
  }

  /** What is happening (stderr): not with --quiet. */
  note(text: string): void {
    if (!this.quiet) process.stderr.write(`${text}\n`);
  }

  /** Progress bars only where a person watches a terminal, and never around JSON output. */
  get progress(): boolean {
    return !this.json && !this.quiet && process.stderr.isTTY === true;
  }
}
