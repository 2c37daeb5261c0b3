/**
 * Task options checked here with the API's own schemas before any upload, so a bad option costs no
 * upload of thousands of files. Messages read as the API's would: `options.numBeams: …`.
 */
import { CliError, ExitCode } from './errors.js';

/** What the CLI needs of a zod schema from @blip-jobs/shared. */
interface Schema {
  safeParse(value: unknown): { success: boolean; error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

export function checkOptions(schema: Schema, options: unknown): void {
  const result = schema.safeParse(options);
  if (result.success) return;
  const issues = result.error?.issues ?? [];
  const message = issues.map((i) => `${['options', ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
  throw new CliError(message || 'options: invalid', ExitCode.usage);
}
