"""BLIP image preprocessing (BLIP data/__init__.py, HF BlipImageProcessor): the whole image to
S×S bicubic (aspect ratio not kept, no crop), [0,1], CLIP mean/std, CHW float32."""
from __future__ import annotations

import numpy as np
from PIL import Image

from .config import IMAGE_MEAN, IMAGE_STD

_MEAN = np.array(IMAGE_MEAN, dtype=np.float32)
_STD = np.array(IMAGE_STD, dtype=np.float32)


def resize_rgb(img: Image.Image, size: int) -> np.ndarray:
    """The S×S×3 uint8 image the model sees, before normalisation."""
    return np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.uint8)


def normalize(rgb: np.ndarray) -> np.ndarray:
    """[..., S, S, 3] uint8 → [..., 3, S, S] float32."""
    arr = (rgb.astype(np.float32) / 255.0 - _MEAN) / _STD
    return np.moveaxis(arr, -1, -3).copy()


def preprocess(img: Image.Image, size: int) -> np.ndarray:
    return normalize(resize_rgb(img, size))
