"""Model configuration: one code path for BLIP base, large and the tiny shapes model."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# CLIP normalisation used by every BLIP checkpoint (BLIP data/__init__.py, HF BlipImageProcessor).
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class VisionConfig:
    image_size: int = 384
    patch_size: int = 16
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    layer_norm_eps: float = 1e-6  # BLIP vit.py; HF's config default is 1e-5

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        return 1 + self.num_patches


@dataclass
class TextConfig:
    """BERT-base as BLIP's med_config.json sets it (no token types, cross-attention width = ViT width)."""
    vocab_size: int = 30524  # bert-base-uncased 30522 + [DEC] + [ENC]
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    encoder_width: int = 768
    add_cross_attention: bool = True
    pad_token_id: int = 0

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass
class SpecialTokens:
    pad: int = 0
    unk: int = 100
    cls: int = 101
    sep: int = 102
    mask: int = 103
    dec: int = 30522
    enc: int = 30523


@dataclass
class BlipConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    embed_dim: int = 256
    special_tokens: SpecialTokens = field(default_factory=SpecialTokens)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "BlipConfig":
        return BlipConfig(
            vision=VisionConfig(**d["vision"]),
            text=TextConfig(**d["text"]),
            embed_dim=d["embed_dim"],
            special_tokens=SpecialTokens(**d["special_tokens"]),
        )


def base_config(image_size: int = 384) -> BlipConfig:
    return BlipConfig(vision=VisionConfig(image_size=image_size))


def large_config(image_size: int = 384) -> BlipConfig:
    return BlipConfig(
        vision=VisionConfig(image_size=image_size, width=1024, depth=24, heads=16),
        text=TextConfig(encoder_width=1024),
    )


def tiny_config(vocab_size: int, special_tokens: SpecialTokens) -> BlipConfig:
    """The shapes-world model: small ViT at 64 px with 8 px patches, 3-layer MED."""
    return BlipConfig(
        vision=VisionConfig(image_size=64, patch_size=8, width=192, depth=4, heads=3),
        text=TextConfig(
            vocab_size=vocab_size, hidden_size=128, num_hidden_layers=3, num_attention_heads=4,
            intermediate_size=512, max_position_embeddings=64, encoder_width=192,
        ),
        embed_dim=64,
        special_tokens=special_tokens,
    )
