/**
 * Glob patterns for inputs a shell did not expand (quoted, or on Windows): `*`, `?`, `**`,
 * `[abc]` and `{png,jpg}`. Node 20 has no fs.glob, and this much needs no dependency.
 */

const GLOB_CHARS = /[*?[{]/;

export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

/**
 * The directory to walk (the segments before the first one with a wildcard) and the pattern for
 * paths relative to it: `data/**\/*.png` → `data` and `**\/*.png`.
 */
export function splitGlob(pattern: string): { base: string; rest: string } {
  const segments = pattern.split('/');
  const first = segments.findIndex((s) => isGlob(s));
  if (first === -1) return { base: pattern, rest: '' };
  const base = segments.slice(0, first).join('/');
  return { base: base === '' ? (pattern.startsWith('/') ? '/' : '.') : base, rest: segments.slice(first).join('/') };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function source(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      // `**/` is zero or more directories; a trailing `**` is everything below.
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:[^/]*/)*';
      } else {
        re += '.*';
      }
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[' && glob.indexOf(']', i + 2) !== -1) {
      const end = glob.indexOf(']', i + 2);
      const body = glob.slice(i + 1, end);
      re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (c === '{' && glob.indexOf('}', i) !== -1) {
      const end = glob.indexOf('}', i);
      re += `(?:${glob
        .slice(i + 1, end)
        .split(',')
        .map(source)
        .join('|')})`;
      i = end;
    } else {
      re += escapeRegExp(c);
    }
  }
  return re;
}

/** The pattern as an anchored RegExp over `/`-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${source(glob)}$`);
}
