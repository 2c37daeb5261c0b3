import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exactCaptionMatch, shapesCaption, type ShapesScene } from './shapes-world.js';

interface Labelled {
  scene: ShapesScene;
  caption: string;
}

// The held-out split's captions were written by the Python world (canonical order).
const labels = readFileSync(new URL('../../../../datasets/shapes-test/labels.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Labelled);

describe('shapes world captions', () => {
  it('reproduce the Python world on all 500 held-out scenes, in one of the two orders', () => {
    for (const { scene, caption } of labels) {
      const mine = scene.objects.length === 1 ? [shapesCaption(scene)] : [shapesCaption(scene, 0), shapesCaption(scene, 1)];
      expect(mine).toContain(caption);
      expect(exactCaptionMatch(`  ${caption.toUpperCase()} `, scene)).toBe(true);
    }
  });

  it('reject a wrong attribute or relation', () => {
    const two = labels.find((l) => l.scene.objects.length === 2)!;
    expect(exactCaptionMatch(two.caption.replace(/ (above|below|to the left of|to the right of) /, ' near '), two.scene)).toBe(false);
    const one = labels.find((l) => l.scene.objects.length === 1)!;
    const o = one.scene.objects[0]!;
    expect(exactCaptionMatch(`a ${o.size} ${o.color === 'red' ? 'blue' : 'red'} ${o.shape}`, one.scene)).toBe(false);
  });
});
