"""BERT uncased WordPiece tokenizer (basic tokenizer + WordPiece), as bert-base-uncased defines it,
with BLIP's added [DEC]/[ENC] tokens. The reference for the TypeScript tokenizer in libs/med-model."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import torch


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokenize(text: str) -> list[str]:
    out = []
    for ch in text:  # clean: drop control chars, map whitespace to space, space out CJK
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch.isspace():
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    tokens = []
    for word in "".join(out).strip().split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    tokens.append(current)
                tokens.append(ch)
                current = ""
            else:
                current += ch
        if current:
            tokens.append(current)
    return tokens


class BertTokenizer:
    def __init__(self, vocab: list[str], unk: str = "[UNK]", max_chars_per_word: int = 100):
        self.vocab = vocab
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        self.unk_id = self.ids[unk]
        self.max_chars = max_chars_per_word

    @staticmethod
    def from_file(path: str | Path) -> "BertTokenizer":
        return BertTokenizer(Path(path).read_text(encoding="utf-8").split("\n")[:-1])

    def token_id(self, token: str) -> int:
        return self.ids[token]

    def wordpiece(self, word: str) -> list[int]:
        if len(word) > self.max_chars:
            return [self.unk_id]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    found = self.ids[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[int]:
        return [i for word in basic_tokenize(text) for i in self.wordpiece(word)]

    def batch(self, texts: list[str], first: int, sep: int, pad: int, max_length: int = 35) -> tuple[torch.Tensor, torch.Tensor]:
        """BLIP's text input: `first` ([CLS], [ENC] or [DEC]) + tokens + [SEP], truncated to
        max_length, right-padded; returns ids and attention mask [B, T] int64."""
        rows = [[first] + self.tokenize(t)[: max_length - 2] + [sep] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return ids, mask

    def decode(self, ids: list[int], skip: set[int] = frozenset()) -> str:
        text = ""
        for i in ids:
            if i in skip:
                continue
            tok = self.vocab[i]
            text += tok[2:] if tok.startswith("##") else (" " + tok if text else tok)
        return clean_up_tokenization(text)


def clean_up_tokenization(text: str) -> str:
    """HF's clean_up_tokenization_spaces (on by default for BERT, so BLIP's decode applies it)."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text
