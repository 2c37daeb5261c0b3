"""Batches of the shapes world for training and evaluation: images through the same resize and
normalisation the runtime applies, texts through the tiny WordPiece tokenizer."""
from __future__ import annotations

import random

import numpy as np
import torch

from blip.image import preprocess
from blip.tokenizer import BertTokenizer

from . import world


def pixel_batch(scenes: list[world.Scene], size: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([preprocess(world.render(s), size) for s in scenes]))


class TextCoder:
    """Encodes texts the way BLIP's models see them: [CLS]/[ENC]/[DEC] first, [SEP] last, padded."""

    def __init__(self, tokenizer: BertTokenizer, max_length: int = 35):
        self.tok = tokenizer
        self.max_length = max_length
        self.pad = tokenizer.token_id("[PAD]")
        self.cls = tokenizer.token_id("[CLS]")
        self.sep = tokenizer.token_id("[SEP]")
        self.dec = tokenizer.token_id("[DEC]")
        self.enc = tokenizer.token_id("[ENC]")

    def encode(self, texts: list[str], first: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tok.batch(texts, self.cls if first is None else first, self.sep, self.pad, self.max_length)

    def prompt_ids(self, prompt: str) -> list[int]:
        """BLIP captioning: [DEC] + prompt tokens, without the trailing [SEP]."""
        return [self.dec] + self.tok.tokenize(prompt)


def positive_text(scene: world.Scene, rng: random.Random) -> str:
    """A correct description: canonical, the other order, or a clean paraphrase."""
    r = rng.random()
    if r < 0.4:
        return world.canonical_caption(scene)
    if r < 0.55 and len(scene.objects) == 2:
        return world.caption(scene, first=1 - world.canonical_first(scene))
    return rng.choice(world.clean_texts(scene))


def noisy_text(scene: world.Scene, rng: random.Random) -> str:
    for _ in range(50):
        text, clean, _ = world.web_text(scene, rng)
        if not clean:
            return text
    return world.negative_caption(scene, rng)


def sample_scenes(rng: random.Random, n: int) -> list[world.Scene]:
    return [world.sample_scene(rng) for _ in range(n)]
