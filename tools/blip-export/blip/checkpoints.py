"""Load BLIP checkpoints: original salesforce/BLIP `.pth` files and HuggingFace `Salesforce/blip-*`
weights (safetensors or .bin) into the models of blip.py, strictly.

  - HF names are mapped to the original names by an explicit table (vision part only; the text
    parts already share names).
  - Position embeddings are interpolated when the checkpoint's image size differs from the model's.
  - Keys the model does not use are ignored and reported (BLIP's own loader is strict=False: the
    demo loads ITM from a retrieval checkpoint); a missing key or a wrong shape is an error naming
    the key, the expected and the found shape.
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import torch
from torch import nn

from .config import BlipConfig, TextConfig, VisionConfig
from .vit import interpolate_pos_embed


class CheckpointError(ValueError):
    pass


# HF BlipForConditionalGeneration / BlipForQuestionAnswering / BlipForImageTextRetrieval → original
_HF_TO_BLIP = [
    (r"^vision_model\.embeddings\.class_embedding$", "visual_encoder.cls_token"),
    (r"^vision_model\.embeddings\.position_embedding$", "visual_encoder.pos_embed"),
    (r"^vision_model\.embeddings\.patch_embedding\.", "visual_encoder.patch_embed.proj."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm1\.", r"visual_encoder.blocks.\1.norm1."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm2\.", r"visual_encoder.blocks.\1.norm2."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.qkv\.", r"visual_encoder.blocks.\1.attn.qkv."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection\.", r"visual_encoder.blocks.\1.attn.proj."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"visual_encoder.blocks.\1.mlp."),
    (r"^vision_model\.post_layernorm\.", "visual_encoder.norm."),
]

_SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "F64": torch.float64}


def hf_to_blip_name(name: str) -> str:
    for pattern, repl in _HF_TO_BLIP:
        new, n = re.subn(pattern, repl, name)
        if n:
            return new
    return name


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """safetensors: 8-byte little-endian header length, a JSON header, raw little-endian tensors."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise CheckpointError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        buf = bytearray(data[base + start : base + end])
        t = torch.frombuffer(buf, dtype=_SAFETENSORS_DTYPES[info["dtype"]]) if buf else torch.empty(0, dtype=_SAFETENSORS_DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], BlipConfig | None]:
    """A state dict in BLIP's names from a .pth/.bin/.safetensors file (HF names are mapped), and
    the BlipConfig saved beside it, if any (checkpoints written by shapes/train.py carry one)."""
    path = Path(path)
    saved = None
    if path.suffix == ".safetensors":
        sd = read_safetensors(path)
    else:
        obj = torch.load(path, map_location="cpu")
        sd = obj.get("model", obj.get("state_dict", obj)) if isinstance(obj, dict) else obj
        if isinstance(obj, dict) and isinstance(obj.get("config"), dict):
            saved = BlipConfig.from_dict(obj["config"])
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: no state dict found")
    return {hf_to_blip_name(k): v for k, v in sd.items()}, saved


def infer_config(sd: dict[str, torch.Tensor], vocab_size: int | None = None) -> BlipConfig:
    """Read the architecture off the tensor shapes (base, large or any small config). Head counts
    are not in the shapes: BLIP's 64-wide heads are assumed (exact for base and large); a
    checkpoint with other heads must carry its config (see load_checkpoint)."""
    try:
        width = sd["visual_encoder.cls_token"].shape[-1]
        patch = sd["visual_encoder.patch_embed.proj.weight"].shape[-1]
        tokens = sd["visual_encoder.pos_embed"].shape[1]
        depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"visual_encoder\.blocks\.(\d+)\.", k)))
        prefix = "text_encoder." if "text_encoder.embeddings.word_embeddings.weight" in sd else "text_decoder.bert."
        words = sd[prefix + "embeddings.word_embeddings.weight"]
        layers = 1 + max(int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"encoder\.layer\.(\d+)\.", k)))
        inter = sd[prefix + "encoder.layer.0.intermediate.dense.weight"].shape[0]
        positions = sd[prefix + "embeddings.position_embeddings.weight"].shape[0]
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"cannot infer the architecture: missing {e}") from e
    grid = int(round((tokens - 1) ** 0.5))
    heads = max(1, width // 64)
    hidden = words.shape[1]
    embed_dim = sd["vision_proj.weight"].shape[0] if "vision_proj.weight" in sd else 256
    return BlipConfig(
        vision=VisionConfig(image_size=grid * patch, patch_size=patch, width=width, depth=depth, heads=heads),
        text=TextConfig(vocab_size=vocab_size or words.shape[0], hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 64), intermediate_size=inter,
                        max_position_embeddings=positions, encoder_width=width),
        embed_dim=embed_dim,
    )


def load_into(model: nn.Module, sd: dict[str, torch.Tensor]) -> list[str]:
    """Load strictly after interpolating position embeddings; return the checkpoint keys ignored."""
    expected = model.state_dict()
    sd = dict(sd)
    for key in ("visual_encoder.pos_embed", "visual_encoder_m.pos_embed"):
        if key in sd and key in expected and sd[key].shape != expected[key].shape:
            sd[key] = interpolate_pos_embed(sd[key], expected[key].shape[1] - 1)
    missing = [k for k in expected if k not in sd]
    if missing:
        raise CheckpointError(f"checkpoint is missing {len(missing)} key(s) the model needs, first: {missing[0]} "
                              f"(expected shape {list(expected[missing[0]].shape)})" + (f"; also {missing[1:4]}" if len(missing) > 1 else ""))
    for k, v in expected.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise CheckpointError(f"checkpoint key {k} has shape {list(sd[k].shape)}, the model expects {list(v.shape)}")
    ignored = sorted(k for k in sd if k not in expected)
    model.load_state_dict({k: sd[k] for k in expected}, strict=True)
    return ignored
