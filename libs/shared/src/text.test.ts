import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_WORDS, preCaption, preQuestion } from './text.js';

// Expected values were produced by running salesforce/BLIP data/utils.py pre_caption /
// pre_question (copied verbatim) under CPython 3.
describe('preCaption (BLIP pre_caption)', () => {
  it('lowercases and replaces each of .!"()*#:;~ with a space', () => {
    expect(preCaption('A Dog. On the (Grass)!')).toBe('a dog on the grass');
    expect(preCaption('he said "hi": ok; *fine* #tag ~x')).toBe('he said hi ok fine tag x');
    expect(preCaption('a.b')).toBe('a b');
    expect(preCaption('Is it (red)... or blue?!')).toBe('is it red or blue?');
  });

  it('collapses runs of 2+ whitespace (Python str whitespace) and strips spaces/newline', () => {
    expect(preCaption('  two   spaces\t\tand tabs  ')).toBe('two spaces and tabs');
    expect(preCaption('trailing newline\n')).toBe('trailing newline');
    expect(preCaption('x\u00a0\u00a0y\x1c\x1dz\ufeff\ufeffw')).toBe('x y z\ufeff\ufeffw');
    expect(preCaption('   ')).toBe('');
  });

  it('truncates to maxWords words (default 50)', () => {
    expect(DEFAULT_MAX_WORDS).toBe(50);
    expect(preCaption('one two three four five', 3)).toBe('one two three');
    expect(preCaption('a  b c d', 2)).toBe('a b');
    const long = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
    expect(preCaption(long).split(' ')).toHaveLength(50);
  });
});

describe('preQuestion (BLIP pre_question)', () => {
  it('lowercases and deletes each of .!"()*#:;~ (no space inserted)', () => {
    expect(preQuestion('a.b')).toBe('ab');
    expect(preQuestion('he said "hi": ok; *fine* #tag ~x')).toBe('he said hi ok fine tag x');
    expect(preQuestion('Is it (red)... or blue?!')).toBe('is it red or blue?');
  });

  it('only strips trailing spaces: leading spaces, inner runs and newlines stay', () => {
    expect(preQuestion('What is ON the table?  ')).toBe('what is on the table?');
    expect(preQuestion('  two   spaces\t\tand tabs  ')).toBe('  two   spaces\t\tand tabs');
    expect(preQuestion('trailing newline\n')).toBe('trailing newline\n');
  });

  it("truncates on split(' '), where empty fields count as words", () => {
    expect(preQuestion('one two three four five', 3)).toBe('one two three');
    expect(preQuestion('a  b c d', 2)).toBe('a ');
    expect(preQuestion('  lead', 1)).toBe('');
    const long = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
    expect(preQuestion(long).split(' ')).toHaveLength(50);
  });
});
