/**
 * Text cleanup applied by BLIP before tokenisation, ported exactly from
 * salesforce/BLIP `data/utils.py` (`pre_caption`, `pre_question`).
 *
 * Details that matter for exactness: truncation splits on single spaces (`split(' ')`, so empty
 * fields count as words) and only rewrites the text when it is over the limit; `\s` is Python's
 * `str` whitespace (which includes U+001C..U+001F and U+0085 but not U+FEFF, unlike JS `\s`).
 */

export const DEFAULT_MAX_WORDS = 50;

/** Python `re` `\s{2,}` for `str` patterns (the characters for which `str.isspace()` is true). */
const PY_WHITESPACE_RUN =
  // eslint-disable-next-line no-control-regex -- U+001C..U+001F are whitespace to Python
  /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{2,}/g;
const PUNCT = /[.!"()*#:;~]/g;

/** Python `str.rstrip(chars)`. */
function rstripChars(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text.charAt(end - 1))) end--;
  return text.slice(0, end);
}

/** Python `str.strip(chars)`. */
function stripChars(text: string, chars: string): string {
  let start = 0;
  while (start < text.length && chars.includes(text.charAt(start))) start++;
  return rstripChars(text.slice(start), chars);
}

function truncateWords(text: string, maxWords: number): string {
  const words = text.split(' ');
  return words.length > maxWords ? words.slice(0, maxWords).join(' ') : text;
}

/**
 * BLIP `pre_caption(caption, max_words=50)`:
 * lowercase; replace each of `.!"()*#:;~` with a space; collapse 2+ whitespace characters to one
 * space; `rstrip('\n')`; `strip(' ')`; keep at most `maxWords` words.
 */
export function preCaption(caption: string, maxWords: number = DEFAULT_MAX_WORDS): string {
  let text = caption.toLowerCase().replace(PUNCT, ' ');
  text = text.replace(PY_WHITESPACE_RUN, ' ');
  text = rstripChars(text, '\n');
  text = stripChars(text, ' ');
  return truncateWords(text, maxWords);
}

/**
 * BLIP `pre_question(question, max_ques_words=50)`:
 * lowercase; delete each of `.!"()*#:;~`; `rstrip(' ')`; keep at most `maxWords` words.
 */
export function preQuestion(question: string, maxWords: number = DEFAULT_MAX_WORDS): string {
  let text = question.toLowerCase().replace(PUNCT, '');
  text = rstripChars(text, ' ');
  return truncateWords(text, maxWords);
}
