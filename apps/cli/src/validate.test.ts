import { CaptionOptionsSchema, VqaOptionsSchema } from '@blip-jobs/shared';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors.js';
import { checkOptions } from './validate.js';

function message(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.usage);
    return (err as CliError).message;
  }
  return expect.fail('expected a usage error');
}

describe('checkOptions', () => {
  it('passes options the API accepts', () => {
    expect(() => checkOptions(CaptionOptionsSchema, { mode: 'beam', numBeams: 4, numCaptions: 2 })).not.toThrow();
    expect(() => checkOptions(VqaOptionsSchema, { mode: 'rank', candidates: ['red', 'blue'] })).not.toThrow();
  });

  it('names the option as the API does, before anything is uploaded', () => {
    expect(message(() => checkOptions(CaptionOptionsSchema, { mode: 'beam', numBeams: 12 }))).toMatch(/^options\.numBeams: /);
    expect(message(() => checkOptions(CaptionOptionsSchema, { mode: 'beam', numBeams: 2, numCaptions: 3 }))).toBe(
      'options: beam search returns at most numBeams captions: raise numBeams or lower numCaptions',
    );
  });
});
