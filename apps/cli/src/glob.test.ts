import { describe, expect, it } from 'vitest';
import { globToRegExp, isGlob, splitGlob } from './glob.js';

describe('glob patterns', () => {
  it('split into the directory to walk and the pattern below it', () => {
    expect(splitGlob('data/**/*.png')).toEqual({ base: 'data', rest: '**/*.png' });
    expect(splitGlob('/abs/dir/*.jpg')).toEqual({ base: '/abs/dir', rest: '*.jpg' });
    expect(splitGlob('/*.png')).toEqual({ base: '/', rest: '*.png' });
    expect(splitGlob('*.png')).toEqual({ base: '.', rest: '*.png' });
    expect(isGlob('a/b.png')).toBe(false);
    expect(isGlob('a/{b,c}.png')).toBe(true);
  });

  it('match * within a directory, ** across directories', () => {
    const star = globToRegExp('*.png');
    expect(star.test('a.png')).toBe(true);
    expect(star.test('sub/a.png')).toBe(false);
    const deep = globToRegExp('**/*.png');
    expect(['a.png', 'sub/a.png', 'sub/deep/a.png'].every((p) => deep.test(p))).toBe(true);
    expect(deep.test('a.pngx')).toBe(false);
    const under = globToRegExp('sub/**');
    expect(under.test('sub/x/y.jpg')).toBe(true);
    expect(under.test('other/y.jpg')).toBe(false);
  });

  it('match ?, character classes and alternatives; other characters literally', () => {
    expect(globToRegExp('img-?.png').test('img-1.png')).toBe(true);
    expect(globToRegExp('img-?.png').test('img-10.png')).toBe(false);
    expect(globToRegExp('[ab]*.png').test('b1.png')).toBe(true);
    expect(globToRegExp('[!ab]*.png').test('b1.png')).toBe(false);
    const alt = globToRegExp('*.{png,jp*g}');
    expect(['x.png', 'x.jpg', 'x.jpeg'].every((p) => alt.test(p))).toBe(true);
    expect(alt.test('x.gif')).toBe(false);
    expect(globToRegExp('a+b (1).png').test('a+b (1).png')).toBe(true);
    expect(globToRegExp('*.png').test('xpng')).toBe(false);
  });
});
