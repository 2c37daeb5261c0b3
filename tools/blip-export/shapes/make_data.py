"""Write shapes-world data sets to disk.

    python3 -m shapes.make_data test-split --out DIR --n 500 --seed 1234
    python3 -m shapes.make_data samples    --out DIR --seed 7
    python3 -m shapes.make_data web-corpus --out DIR --n N --seed S

Every sub-command derives its generator from a string seed that names the
sub-command (e.g. ``random.Random("shapes-test-split:1234")``), so these sets
never share a random stream with training, which seeds ``random.Random`` with
integers. Output is byte-identical across re-runs with the same arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys

from .world import (
    ABOVE,
    BELOW,
    LEFT,
    RIGHT,
    SHAPES,
    canonical_caption,
    questions,
    relation,
    render,
    sample_scene,
    web_text,
)

TEST_NOISE_PROB = 0.1


def _save_png(img, path: str) -> None:
    img.save(path, format="PNG", optimize=False)


def _write_jsonl(path: str, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=False) + "\n")


def _dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def make_test_split(out: str, n: int, seed: int) -> dict:
    """n images, exactly alternating 1/2 objects, noise in ~10% of images."""
    rng = random.Random(f"shapes-test-split:{seed}")
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    rows = []
    for i in range(n):
        num_objects = 1 + (i % 2)
        noise = rng.random() < TEST_NOISE_PROB
        scene = sample_scene(rng, num_objects=num_objects, noise=noise)
        sid = f"test-{i:05d}"
        rel_file = f"images/{sid}.png"
        _save_png(render(scene), os.path.join(out, rel_file))
        text, clean, kind = web_text(scene, rng)
        rows.append({
            "id": sid,
            "file": rel_file,
            "scene": scene.to_json(),
            "caption": canonical_caption(scene),
            "questions": [[q, a] for q, a in questions(scene, rng)],
            "web_text": text,
            "web_clean": clean,
            "web_kind": kind,
        })
    _write_jsonl(os.path.join(out, "labels.jsonl"), rows)
    return {"n": n, "noisy": sum(r["scene"]["noise_sigma"] > 0 for r in rows), "bytes": _dir_size(out)}


def _sample_until(rng: random.Random, pred, **kw):
    while True:
        scene = sample_scene(rng, **kw)
        if pred(scene):
            return scene


def make_samples(out: str, seed: int) -> dict:
    """~12 demo images: each shape alone, each relation, one noisy image, extras."""
    rng = random.Random(f"shapes-samples:{seed}")
    os.makedirs(out, exist_ok=True)
    scenes = []
    for shape in SHAPES:
        scenes.append(_sample_until(rng, lambda s, shape=shape: s.objects[0].shape == shape, num_objects=1, noise=False))
    for rel in (LEFT, RIGHT, ABOVE, BELOW):
        scenes.append(_sample_until(rng, lambda s, rel=rel: relation(s) == rel, num_objects=2, noise=False))
    scenes.append(sample_scene(rng, num_objects=2, noise=True))
    scenes.append(sample_scene(rng, num_objects=1, noise=True))
    for _ in range(3):
        scenes.append(sample_scene(rng, noise=False))
    entries = []
    for i, scene in enumerate(scenes):
        name = f"sample-{i:02d}.png"
        _save_png(render(scene), os.path.join(out, name))
        entries.append({
            "file": name,
            "caption": canonical_caption(scene),
            "scene": scene.to_json(),
            "questions": [[q, a] for q, a in questions(scene, rng)],
        })
    with open(os.path.join(out, "samples.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(entries, f, indent=2)
        f.write("\n")
    return {"n": len(entries), "bytes": _dir_size(out)}


def make_web_corpus(out: str, n: int, seed: int) -> dict:
    rng = random.Random(f"shapes-web-corpus:{seed}")
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    rows = []
    for i in range(n):
        scene = sample_scene(rng)
        wid = f"web-{i:06d}"
        rel_file = f"images/{wid}.png"
        _save_png(render(scene), os.path.join(out, rel_file))
        text, clean, kind = web_text(scene, rng)
        rows.append({
            "id": wid,
            "image": rel_file,
            "text": text,
            "clean": clean,
            "kind": kind,
            "caption": canonical_caption(scene),
        })
    _write_jsonl(os.path.join(out, "corpus.jsonl"), rows)
    clean = sum(r["clean"] for r in rows)
    return {"n": n, "clean": clean, "bytes": _dir_size(out)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m shapes.make_data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("test-split", help="held-out evaluation split")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--seed", type=int, default=1234)
    p = sub.add_parser("samples", help="~12 demo images + samples.json")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    p = sub.add_parser("web-corpus", help="noisy web corpus for CapFilt")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "test-split":
        info = make_test_split(args.out, args.n, args.seed)
    elif args.cmd == "samples":
        info = make_samples(args.out, args.seed)
    else:
        info = make_web_corpus(args.out, args.n, args.seed)
    print(json.dumps({"cmd": args.cmd, "out": args.out, **info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
