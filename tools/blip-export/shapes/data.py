"""Batches of the shapes world for training and evaluation: images through the same resize and
normalisation the runtime applies, texts through the tiny WordPiece tokenizer."""
from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image

from blip.config import IMAGE_MEAN, IMAGE_STD
from blip.tokenizer import BertTokenizer

from . import world

_MEAN = np.array(IMAGE_MEAN, dtype=np.float32)
_STD = np.array(IMAGE_STD, dtype=np.float32)


def preprocess(img: Image.Image, size: int) -> np.ndarray:
    """Whole image to size×size bicubic, [0,1], CLIP-normalised, CHW (BLIP data/__init__.py)."""
    arr = np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
    return ((arr - _MEAN) / _STD).transpose(2, 0, 1)


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
        rows = [[first if first is not None else self.cls] + self.tok.tokenize(t)[: self.max_length - 2] + [self.sep] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return ids, mask

    def prompt_ids(self, prompt: str) -> list[int]:
        """BLIP captioning: [DEC] + prompt tokens, without the trailing [SEP]."""
        return [self.dec] + self.tok.tokenize(prompt)


def positive_text(scene: world.Scene, rng: random.Random) -> str:
    """A correct description: canonical, the other order, or a clean paraphrase."""
    r = rng.random()
    if r < 0.4:
        return world.canonical_caption(scene)
    if r < 0.55 and len(scene.objects) == 2:
        return world.caption(scene, first=1 - _canonical_first(scene))
    return rng.choice(world.clean_texts(scene))


def noisy_text(scene: world.Scene, rng: random.Random) -> str:
    for _ in range(50):
        text, clean, _ = world.web_text(scene, rng)
        if not clean:
            return text
    return world.negative_caption(scene, rng)


def _canonical_first(scene: world.Scene) -> int:
    return 0 if world.canonical_caption(scene) == world.caption(scene, 0) else 1


def sample_scenes(rng: random.Random, n: int) -> list[world.Scene]:
    return [world.sample_scene(rng) for _ in range(n)]
