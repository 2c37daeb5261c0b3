import { describe, expect, it } from 'vitest';
import { LIMITS } from './limits.js';
import { CaptionOptionsSchema, FilterItemSchema, ImageInputSchema, VqaItemSchema, VqaOptionsSchema, parseFailure } from './schemas.js';

const message = (r: { success: boolean; error?: { issues: { message: string }[] } }) => r.error?.issues.map((i) => i.message).join('; ');

describe('job schemas', () => {
  it('accept the three image references and inline base64', () => {
    for (const ok of ['s3://bucket/a/b.png', 'https://example.com/x.jpg', 'upload:uploads/acme/1.bin', { base64: 'iVBORw0KGgo=' }]) {
      expect(ImageInputSchema.safeParse(ok).success).toBe(true);
    }
  });

  it('explain what is wrong with an image reference', () => {
    const r = ImageInputSchema.safeParse('http://example.com/x.jpg');
    expect(r.success).toBe(false);
    expect(message(r as never)).toMatch(/https:\/\//);
    const big = VqaItemSchema.safeParse({ image: { base64: 'A'.repeat(LIMITS.maxInlineImageBytes * 2) }, question: 'q?' });
    expect(message(big as never)).toMatch(/uploads\.create/);
  });

  it('limit questions and texts with actionable messages', () => {
    expect(message(VqaItemSchema.safeParse({ image: 's3://b/k', question: '  ' }) as never)).toBe('question must not be empty');
    expect(message(VqaItemSchema.safeParse({ image: 's3://b/k', question: 'x'.repeat(10_000) }) as never)).toBe(
      `question is longer than ${LIMITS.maxQuestionChars} characters`,
    );
    expect(FilterItemSchema.safeParse({ image: 's3://b/k', text: 'x'.repeat(LIMITS.maxTextChars) }).success).toBe(true);
  });

  it('check option combinations', () => {
    expect(CaptionOptionsSchema.parse({})).toEqual({ mode: 'beam', numCaptions: 1, seed: 0 });
    expect(message(CaptionOptionsSchema.safeParse({ numBeams: 2, numCaptions: 3 }) as never)).toMatch(/at most numBeams/);
    expect(message(CaptionOptionsSchema.safeParse({ minLength: 9, maxLength: 5 }) as never)).toMatch(/minLength/);
    expect(CaptionOptionsSchema.safeParse({ beams: 3 }).success).toBe(false);
    expect(message(VqaOptionsSchema.safeParse({ mode: 'rank' }) as never)).toBe('rank mode needs candidates');
  });

  it('round-trip failure reasons', () => {
    expect(parseFailure('BAD_IMAGE: not a PNG')).toEqual({ code: 'BAD_IMAGE', message: 'not a PNG' });
    expect(parseFailure('socket hang up')).toEqual({ code: 'INTERNAL', message: 'socket hang up' });
    expect(parseFailure(undefined)).toBeNull();
  });
});
