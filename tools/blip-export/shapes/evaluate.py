"""Evaluate the tiny BLIP on the held-out shapes split with the PyTorch reference and write eval.json.

  /usr/bin/python3 -m shapes.evaluate --run runs/tiny --split ../../datasets/shapes-test --out ../../models/blip-tiny-shapes/eval.json
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from PIL import Image

from blip.pipeline import BlipReference, load_reference

from . import world


def load_split(split: Path) -> list[dict]:
    rows = [json.loads(line) for line in (split / "labels.jsonl").read_text().splitlines() if line.strip()]
    for r in rows:
        r["scene_obj"] = world.Scene.from_json(r["scene"])
        r["path"] = split / r["file"]
    return rows


def auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


def evaluate(ref: BlipReference, rows: list[dict], batch: int = 50, seed: int = 99) -> dict:
    rng = random.Random(seed)
    t0 = time.time()
    cap_exact = cap_scene = 0
    vqa_gen = vqa_rank = vqa_total = 0
    pos_itm, neg_itm = [], []
    noisy_removed = noisy_total = clean_kept = clean_total = 0
    img_feats, captions = [], []
    by_objects = {1: [0, 0], 2: [0, 0]}  # caption exact matches / images, by object count
    by_question: dict[str, list[int]] = {}  # VQA generate: right / asked, by question kind
    # one-object images: how often the caption names each attribute right, by object size
    attributes = {size: {"images": 0, "shape": 0, "color": 0, "size": 0} for size in ("small", "large")}
    candidates = world.answer_vocabulary()
    errors = []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        pixels = ref.pixels([Image.open(r["path"]) for r in chunk])
        for r, c in zip(chunk, ref.caption(pixels, "beam", num_beams=3, max_length=20, min_length=5)):
            text = c[0]["text"]
            ok = world.exact_caption_match(text, r["scene_obj"])
            cap_exact += ok
            tally = by_objects[len(r["scene_obj"].objects)]
            tally[0] += ok
            tally[1] += 1
            cap_scene += world.caption_matches_scene(text, r["scene_obj"])
            if len(r["scene_obj"].objects) == 1:
                obj, parsed = r["scene_obj"].objects[0], world.parse_caption(text)
                said = parsed.objects[0] if parsed and parsed.objects else None
                counts = attributes[obj.size]
                counts["images"] += 1
                for attr in ("shape", "color", "size"):
                    counts[attr] += said is not None and getattr(said, attr) == getattr(obj, attr)
            if not ok and len(errors) < 20:
                errors.append({"id": r["id"], "truth": r["caption"], "caption": text})
        qs = [(j, q, a) for j, r in enumerate(chunk) for q, a in r["questions"]]
        q_pixels = pixels[torch.tensor([j for j, _, _ in qs])]
        gen = ref.answer_generate(q_pixels, [q for _, q, _ in qs])
        ranked = ref.answer_rank(q_pixels, [q for _, q, _ in qs], candidates)
        for (j, q, a), g, rk in zip(qs, gen, ranked):
            vqa_total += 1
            vqa_gen += g["answer"] == a
            kind = by_question.setdefault(" ".join(q.split()[:2]), [0, 0])
            kind[0] += g["answer"] == a
            kind[1] += 1
            vqa_rank += rk[0]["answer"] == a
        # ITM with hard negatives: the true caption against the same scene with one thing wrong
        texts = [r["caption"] for r in chunk] + [world.negative_caption(r["scene_obj"], rng) for r in chunk]
        m = ref.match(torch.cat([pixels, pixels]), texts)
        pos_itm += [x["itm"] for x in m[: len(chunk)]]
        neg_itm += [x["itm"] for x in m[len(chunk) :]]
        # CapFilt filter on the web texts: noise is ITM probability < 0.5
        web = ref.match(pixels, [r["web_text"] for r in chunk])
        for r, x in zip(chunk, web):
            if r["web_clean"]:
                clean_total += 1
                clean_kept += x["itm"] >= 0.5
            else:
                noisy_total += 1
                noisy_removed += x["itm"] < 0.5
        if len(img_feats) < 100:
            img_feats.append(ref.image_embeds(pixels)[1])
            captions += [r["caption"] for r in chunk]
    # ITC text→image R@1 among the first 100 images; a hit is any image showing the same scene
    img = torch.cat(img_feats)[:100]
    caps = captions[:100]
    sims = ref.text_embeds(caps) @ img.t()
    top = sims.argmax(1).tolist()
    r1 = sum(caps[t] == caps[q] for q, t in enumerate(top)) / len(caps)
    n = len(rows)
    return {
        "test_images": n,
        "caption_exact_match": round(cap_exact / n, 4),
        "caption_scene_match": round(cap_scene / n, 4),
        "caption_exact_match_by_objects": {str(k): round(v[0] / max(1, v[1]), 4) for k, v in by_objects.items()},
        "caption_one_object_attributes": {size: {k: v if k == "images" else round(v / max(1, t["images"]), 4) for k, v in t.items()}
                                          for size, t in attributes.items()},
        "caption_decoding": {"num_beams": 3, "max_length": 20, "min_length": 5, "prompt": "a picture of "},
        "vqa_questions": vqa_total,
        "vqa_accuracy_generate": round(vqa_gen / vqa_total, 4),
        "vqa_accuracy_rank": round(vqa_rank / vqa_total, 4),
        "vqa_accuracy_generate_by_question": {k: round(v[0] / v[1], 4) for k, v in sorted(by_question.items())},
        "itm_auc_hard_negatives": round(auc(pos_itm, neg_itm), 4),
        "itc_text_to_image_r1": round(r1, 4),
        "itc_gallery": len(caps),
        "capfilt_noise_removed": round(noisy_removed / max(1, noisy_total), 4),
        "capfilt_clean_kept": round(clean_kept / max(1, clean_total), 4),
        "capfilt_threshold": 0.5,
        "web_noisy": noisy_total,
        "web_clean": clean_total,
        "seconds": round(time.time() - t0, 1),
        "caption_errors_sample": errors,
    }


def score_predictions(rows: list[dict], predictions: list[dict]) -> dict:
    """Caption and VQA accuracy of another runtime's predictions (one JSON line per image:
    id, caption, answers_generate, answers_rank in the order of the image's questions), judged by
    the same parser as `evaluate`."""
    by_id = {p["id"]: p for p in predictions}
    missing = [r["id"] for r in rows if r["id"] not in by_id]
    if missing:
        raise SystemExit(f"{len(missing)} images have no prediction, first {missing[0]}")
    cap = gen = rank = total = 0
    for r in rows:
        p = by_id[r["id"]]
        cap += world.exact_caption_match(p["caption"], r["scene_obj"])
        for (q, a), g, k in zip(r["questions"], p["answers_generate"], p["answers_rank"], strict=True):
            total += 1
            gen += g == a
            rank += k == a
    return {"test_images": len(rows), "caption_exact_match": round(cap / len(rows), 4),
            "vqa_accuracy_generate": round(gen / total, 4), "vqa_accuracy_rank": round(rank / total, 4), "vqa_questions": total}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("runs/tiny"))
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--limit", type=int)
    p.add_argument("--predictions", type=Path, help="score another runtime's predictions (JSONL) instead of running PyTorch")
    a = p.parse_args()
    if a.predictions:
        preds = [json.loads(line) for line in a.predictions.read_text().splitlines() if line.strip()]
        print(json.dumps(score_predictions(load_split(a.split)[: a.limit], preds), indent=1))
        return
    torch.set_num_threads(2)
    ref = load_reference(a.run)
    rows = load_split(a.split)[: a.limit]
    result = evaluate(ref, rows)
    print(json.dumps({k: v for k, v in result.items() if k != "caption_errors_sample"}, indent=1))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
