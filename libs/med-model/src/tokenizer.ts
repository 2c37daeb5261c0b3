/**
 * BERT uncased WordPiece tokenizer (basic tokenizer + greedy longest-match WordPiece) with BLIP's
 * added [DEC]/[ENC] tokens: a faithful port of tools/blip-export/blip/tokenizer.py, which is the
 * reference (tests compare ids with it on the real bert-base-uncased vocabulary).
 *
 * Details that matter for exactness:
 * - Everything iterates by code point (Python `str` semantics), never by UTF-16 unit: word
 *   lengths (the 100-character limit) and WordPiece substrings are counted in code points.
 * - "Control" is Python's `unicodedata.category(ch).startswith("C")` (`\p{C}`: Cc, Cf, Cs, Co,
 *   Cn) except tab/newline/CR; such characters, U+0000 and U+FFFD are dropped. Whitespace is
 *   Python's `str.isspace()` restricted to what survives that filter (Zs, U+2028, U+2029 and
 *   \t\n\r; e.g. U+0085 and U+001C..U+001F are category Cc, so they are dropped, not spaces).
 * - Lowercasing is per whitespace-separated word (as Python does), then NFD and removal of Mn
 *   marks; punctuation is ASCII 33-47, 58-64, 91-96, 123-126 or any `\p{P}` character.
 * - Category data comes from the JS engine's Unicode tables and Python's `unicodedata`: they can
 *   disagree on characters assigned in a Unicode version only one of them knows.
 *
 * Text cleanup done by BLIP before tokenising (pre_caption / pre_question) lives in
 * @blip-jobs/shared (text.ts), not here.
 */
import { readFile } from 'node:fs/promises';

export interface SpecialTokenIds {
  pad: number;
  unk: number;
  cls: number;
  sep: number;
  mask: number;
  dec: number;
  enc: number;
}

export interface EncodedBatch {
  /** [rows, width] row-major int64 token ids, right-padded with `special.pad`. */
  ids: BigInt64Array;
  /** [rows, width] row-major int64 attention mask: 1 for real tokens, 0 for padding. */
  mask: BigInt64Array;
  rows: number;
  width: number;
}

/** BLIP's maximum text length for questions and ITM/ITC text (blip_vqa.py, blip_itm.py). */
export const DEFAULT_MAX_TEXT_LENGTH = 35;
/** BERT's max_input_chars_per_word: longer words become a single [UNK]. */
export const MAX_CHARS_PER_WORD = 100;

const CONTROL = /^\p{C}$/u;
const MARK_NONSPACING = /\p{Mn}/gu;
const UNICODE_PUNCT = /^\p{P}$/u;
/** Python `str.isspace()` for characters that are not category C (those are dropped first). */
const PY_SPACE = /^[ \t\n\r\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;

function isPunctuation(ch: string, cp: number): boolean {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
    return true;
  }
  return UNICODE_PUNCT.test(ch);
}

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/**
 * BERT's BasicTokenizer (uncased): clean, space out CJK ideographs, split on whitespace,
 * lowercase, strip accents, split off punctuation. Returns the words WordPiece will see.
 */
export function basicTokenize(text: string): string[] {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0 || cp === 0xfffd) continue;
    if (cp !== 0x09 && cp !== 0x0a && cp !== 0x0d && CONTROL.test(ch)) continue;
    if (PY_SPACE.test(ch)) cleaned += ' ';
    else if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  const tokens: string[] = [];
  // After cleaning, the only whitespace left is what PY_SPACE matched, mapped to ' '.
  for (const raw of cleaned.split(' ')) {
    if (raw === '') continue;
    const word = raw.toLowerCase().normalize('NFD').replace(MARK_NONSPACING, '');
    let current = '';
    for (const ch of word) {
      if (isPunctuation(ch, ch.codePointAt(0) ?? 0)) {
        if (current) tokens.push(current);
        tokens.push(ch);
        current = '';
      } else {
        current += ch;
      }
    }
    if (current) tokens.push(current);
  }
  return tokens;
}

/** HF `clean_up_tokenization_spaces` (on by default for BERT, so BLIP's decode applies it). */
export function cleanUpTokenization(text: string): string {
  const rules: ReadonlyArray<readonly [string, string]> = [
    [' .', '.'],
    [' ?', '?'],
    [' !', '!'],
    [' ,', ','],
    [" ' ", "'"],
    [" n't", "n't"],
    [" 'm", "'m"],
    [" 's", "'s"],
    [" 've", "'ve"],
    [" 're", "'re"],
  ];
  for (const [a, b] of rules) text = text.replaceAll(a, b);
  return text;
}

function checkId(value: number, what: string, vocabSize: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= vocabSize) {
    throw new RangeError(`${what} must be an integer id in [0, ${vocabSize}), got ${value}`);
  }
}

export class WordPieceTokenizer {
  readonly vocabSize: number;
  readonly special: SpecialTokenIds;
  private readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;
  private readonly skipIds: ReadonlySet<number>;

  private constructor(tokens: readonly string[], special: SpecialTokenIds) {
    if (tokens.length === 0) throw new RangeError('the vocabulary is empty');
    this.vocab = [...tokens];
    this.vocabSize = tokens.length;
    // Later duplicates win, as in Python's `{tok: i for i, tok in enumerate(vocab)}`.
    this.ids = new Map(tokens.map((t, i) => [t, i]));
    for (const [key, id] of Object.entries(special)) checkId(id, `special token ${key}`, this.vocabSize);
    this.special = Object.freeze({ ...special });
    const s = this.special;
    this.skipIds = new Set([s.pad, s.unk, s.cls, s.sep, s.mask, s.dec, s.enc]);
  }

  /**
   * Reads a vocab.txt (one token per line, UTF-8, trailing newline). Line ends are read the way
   * Python's `read_text` does (CRLF and CR count as LF). Unlike the Python reference, a file
   * without the trailing newline keeps its last token instead of silently losing it.
   */
  static async fromVocabFile(path: string, special: SpecialTokenIds): Promise<WordPieceTokenizer> {
    const text = (await readFile(path, 'utf8')).replace(/\r\n?/g, '\n');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    try {
      return new WordPieceTokenizer(lines, special);
    } catch (e) {
      throw new RangeError(`${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  static fromVocab(tokens: readonly string[], special: SpecialTokenIds): WordPieceTokenizer {
    return new WordPieceTokenizer(tokens, special);
  }

  /** The id of a token string, or undefined. */
  tokenId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** The token string of an id (throws RangeError outside the vocabulary). */
  token(id: number): string {
    checkId(id, 'token id', this.vocabSize);
    return this.vocab[id] ?? '';
  }

  /** Greedy longest-match-first WordPiece of one basic-tokenized word. */
  private wordpiece(word: string, out: number[]): void {
    const chars = Array.from(word);
    if (chars.length > MAX_CHARS_PER_WORD) {
      out.push(this.special.unk);
      return;
    }
    const pieces: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        const sub = chars.slice(start, end).join('');
        found = this.ids.get(start === 0 ? sub : `##${sub}`);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) {
        out.push(this.special.unk);
        return;
      }
      pieces.push(found);
      start = end;
    }
    out.push(...pieces);
  }

  /** Token ids of `text`, without [CLS]/[SEP] and without truncation. */
  tokenize(text: string): number[] {
    const out: number[] = [];
    for (const word of basicTokenize(text)) this.wordpiece(word, out);
    return out;
  }

  /**
   * BLIP's text input for a batch: per row `[first] + tokenize(t)[: maxLength-2] + [sep]`,
   * right-padded with `pad` to the longest row. `first` is [CLS], [ENC] or [DEC] by mode.
   */
  encodeBatch(texts: readonly string[], first: number, maxLength: number = DEFAULT_MAX_TEXT_LENGTH): EncodedBatch {
    if (texts.length === 0) throw new RangeError('encodeBatch needs at least one text');
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new RangeError(`maxLength must be an integer >= 2 (room for the first token and [SEP]), got ${maxLength}`);
    }
    checkId(first, 'first token', this.vocabSize);
    const rows = texts.map((t) => [first, ...this.tokenize(t).slice(0, maxLength - 2), this.special.sep]);
    const width = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(rows.length * width).fill(BigInt(this.special.pad));
    const mask = new BigInt64Array(rows.length * width);
    rows.forEach((row, i) => {
      row.forEach((id, j) => {
        ids[i * width + j] = BigInt(id);
        mask[i * width + j] = 1n;
      });
    });
    return { ids, mask, rows: rows.length, width };
  }

  /**
   * Token ids back to text: tokens joined with spaces, `##` continuations glued to the previous
   * token, then HF's clean-up. With `skipSpecial` (default) pad, unk, cls, sep, mask, dec and enc
   * are dropped, as HF `decode(skip_special_tokens=True)` does.
   */
  decode(ids: readonly number[], skipSpecial = true): string {
    let text = '';
    for (const id of ids) {
      if (skipSpecial && this.skipIds.has(id)) continue;
      const tok = this.token(id);
      if (tok.startsWith('##')) text += tok.slice(2);
      else text += text ? ` ${tok}` : tok;
    }
    return cleanUpTokenization(text);
  }
}
