"""Parity fixtures for the TypeScript runtime, from the PyTorch reference on the exported weights.

  /usr/bin/python3 -m shapes.fixtures --run runs/tiny --samples ../../datasets/shapes-samples --model ../../models/blip-tiny-shapes

Writes `{model}/fixtures/parity.json`. Images are stored as the S×S RGB bytes after the bicubic
resize (PIL), so the runtime can check everything after decoding and resizing exactly; its own
sharp resize is compared separately, with a tolerance. Nucleus sampling reads a recorded stream of
uniform numbers: at every step, one number per row, rows image-major (image 0's captions first),
including rows that already finished.
"""
from __future__ import annotations

import argparse
import base64
import json
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from blip.image import normalize, resize_rgb
from blip.pipeline import BlipReference, load_reference

from . import world


class RecordedUniforms:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.values: list[float] = []

    def __call__(self, rows: int) -> list[float]:
        out = [self.rng.random() for _ in range(rows)]
        self.values += out
        return out


def build(ref: BlipReference, samples: Path, version: str, repo: Path) -> dict:
    items = json.loads((samples / "samples.json").read_text())[:6]
    S = ref.cfg.vision.image_size
    rgb = [resize_rgb(Image.open(samples / it["file"]), S) for it in items]
    px = torch.from_numpy(normalize(np.stack(rgb)))
    fx: dict = {"model": version, "image_size": S, "tolerance": 1e-4,
                "images": [{"file": str((samples / it["file"]).resolve().relative_to(repo)), "caption": it["caption"],
                            "resized_rgb_b64": base64.b64encode(r.tobytes()).decode()} for it, r in zip(items, rgb)]}
    cap = {}
    for prompt_name, prompt in (("prompt", "a picture of "), ("no_prompt", "")):
        cap[f"greedy_{prompt_name}"] = ref.caption(px, "greedy", prompt=prompt, max_length=20, min_length=5 if prompt else 1)
        cap[f"beam3_{prompt_name}"] = ref.caption(px, "beam", prompt=prompt, num_beams=3, max_length=20, min_length=5 if prompt else 1,
                                                  num_captions=2)
    u = RecordedUniforms(2026)
    nucleus = ref.caption(px, "nucleus", prompt="a picture of ", max_length=20, min_length=5, num_captions=2, uniforms=u,
                          top_p=0.9, top_k=50, temperature=1.0, repetition_penalty=1.1)
    cap["nucleus"] = {"settings": {"prompt": "a picture of ", "top_p": 0.9, "top_k": 50, "temperature": 1.0,
                                   "repetition_penalty": 1.1, "max_length": 20, "min_length": 5, "num_captions": 2},
                      "uniforms": u.values, "results": nucleus}
    cap["settings"] = {"greedy": {"max_length": 20, "min_length": "5 with prompt, 1 without"},
                       "beam3": {"num_beams": 3, "num_captions": 2, "length_penalty": 1.0}}
    fx["caption"] = cap

    qs = [(i, q, a) for i, it in enumerate(items) for q, a in it["questions"][:3]]
    q_px = px[torch.tensor([i for i, _, _ in qs])]
    questions = [q for _, q, _ in qs]
    candidates = world.answer_vocabulary()
    fx["vqa"] = {"questions": [{"image": i, "question": q, "truth": a} for i, q, a in qs],
                 "generate": ref.answer_generate(q_px, questions),
                 "rank": {"candidates": candidates, "k": 128, "results": [r[:5] for r in ref.answer_rank(q_px, questions, candidates)]}}

    pairs = [(i, it["caption"]) for i, it in enumerate(items)]
    pairs += [(i, world.negative_caption(world.Scene.from_json(it["scene"]), random.Random(i))) for i, it in enumerate(items)]
    pairs += [(0, "img_0042.jpg"), (1, "A Picture of a LARGE yellow square!")]
    m = ref.match(px[torch.tensor([i for i, _ in pairs])], [t for _, t in pairs])
    fx["match"] = {"first_token": "enc", "pairs": [{"image": i, "text": t, **r} for (i, t), r in zip(pairs, m)]}
    _, img_itc = ref.image_embeds(px)
    texts = [it["caption"] for it in items]
    fx["embed"] = {"image_itc": img_itc.tolist(), "texts": texts, "text_itc": ref.text_embeds(texts).tolist()}
    return fx


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("runs/tiny"))
    p.add_argument("--samples", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    a = p.parse_args()
    torch.set_num_threads(2)
    repo = Path(__file__).resolve().parents[3]
    manifest = json.loads((a.model / "manifest.json").read_text())
    fx = build(load_reference(a.run), a.samples, manifest["version"], repo)
    (a.model / "fixtures").mkdir(exist_ok=True)
    (a.model / "fixtures" / "parity.json").write_text(json.dumps(fx, indent=None) + "\n")
    print(f"wrote {a.model / 'fixtures' / 'parity.json'}")


if __name__ == "__main__":
    main()
