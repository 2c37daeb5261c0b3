/**
 * groupedLayout: which cross rows a grouped-form decoder graph is fed for a row layout (rows
 * image-major, the same number per image), and when a layout is not grouped.
 */
import { describe, expect, it } from 'vitest';
import { groupedLayout } from './decoder-session.js';

describe('groupedLayout', () => {
  it('beams of every image, in order', () => {
    expect(groupedLayout([0, 0, 0, 1, 1, 1, 2, 2, 2])).toEqual({ rows: [0, 1, 2], group: 3 });
  });
  it('one row per image (greedy)', () => {
    expect(groupedLayout([0, 1, 2, 3])).toEqual({ rows: [0, 1, 2, 3], group: 1 });
  });
  it('images that left the batch: the remaining ones, in order', () => {
    expect(groupedLayout([1, 1, 1, 3, 3, 3])).toEqual({ rows: [1, 3], group: 3 });
  });
  it('a VQA ranking pass over some questions', () => {
    expect(groupedLayout([4, 4, 5, 5])).toEqual({ rows: [4, 5], group: 2 });
  });
  it('not grouped: unequal runs, an image in two runs, empty', () => {
    expect(groupedLayout([0, 0, 1])).toBeNull();
    expect(groupedLayout([0, 1, 1, 2])).toBeNull();
    expect(groupedLayout([0, 0, 1, 1, 0, 0])).toBeNull();
    expect(groupedLayout([])).toBeNull();
  });
});
