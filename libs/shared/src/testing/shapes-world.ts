/**
 * The shapes world's scenes and captions (docs/shapes-world.md), for tests and evaluations that
 * check model outputs against ground truth. Mirrors tools/blip-export/shapes/world.py
 * (`caption`, `exact_caption_match`); the Python file is the specification's reference.
 */
export interface ShapesObject {
  shape: string;
  color: string;
  size: string;
  cx: number;
  cy: number;
}

export interface ShapesScene {
  objects: ShapesObject[];
}

const RELATION_RATIO = 1.5;

/** Relation of `a` to `b` from their centres; null when neither horizontal nor vertical. */
export function relationOf(a: ShapesObject, b: ShapesObject): string | null {
  const dx = a.cx - b.cx;
  const dy = a.cy - b.cy;
  if (dx === 0 && dy === 0) return null;
  if (Math.abs(dx) >= RELATION_RATIO * Math.abs(dy)) return dx < 0 ? 'to the left of' : 'to the right of';
  if (Math.abs(dy) >= RELATION_RATIO * Math.abs(dx)) return dy < 0 ? 'above' : 'below';
  return null;
}

const phrase = (o: ShapesObject) => `a ${o.size} ${o.color} ${o.shape}`;

/** The caption naming objects[first] first. */
export function shapesCaption(scene: ShapesScene, first: 0 | 1 = 0): string {
  const [a, b] = first === 0 ? scene.objects : [scene.objects[1], scene.objects[0]];
  if (!a) throw new RangeError('a scene has at least one object');
  if (!b) return phrase(a);
  return `${phrase(a)} ${relationOf(a, b)} ${phrase(b)}`;
}

/** True when `text` is the scene's full caption in either object order (the eval's caption_exact_match). */
export function exactCaptionMatch(text: string, scene: ShapesScene): boolean {
  const t = text.trim().toLowerCase();
  if (scene.objects.length === 1) return t === shapesCaption(scene, 0);
  return t === shapesCaption(scene, 0) || t === shapesCaption(scene, 1);
}
