"""The PyTorch side of `npm run bench:model` (libs/med-model/bench/bench-model.ts): images/s of the
reference pipeline (blip/pipeline.py BlipReference) on a model directory's own weights
(blip/onnx_weights.py), with the same inputs the TypeScript side uses.

  /usr/bin/python3 tools/blip-export/bench/bench_torch.py --model-dir models/blip-tiny-shapes \
      --cases caption:1,caption:8,vqa:8,itm:32,vision:8 --threads 2 --json out.json

Cases are task:batch with task in caption (beam-3, the manifest's settings), vqa (answer
generation, beam-3), itm (ITM probability + ITC cosine of `batch` image-text pairs), vision (the
ViT and ITC projection alone). Caption and VQA are timed in each of --forms:
  grouped   cross-attention K/V computed once per image; the beams of an image attend to them in
            one product (generate.py DecoderSession(grouped_cross=True), med.py cross_grouped)
  index     K/V computed once per image and gathered per beam row at every step (cross_index)
  original  K/V recomputed at every step from the image states, as the original BLIP code does
The outputs of the first call of the first form are written too (caption/answer tokens, ITM
probabilities, ITC cosines), so the caller can check parity with the runtime.

Inputs are deterministic (bench_inputs below; bench-model.ts computes the very same floats).
OpenBLAS: Debian's 0.3.21 does not know recent Xeons (it picks the generic "Prescott" kernels, ~6×
slower); unless OPENBLAS_CORETYPE is set, SkylakeX kernels are chosen when the CPU has AVX-512
(Haswell ones with AVX2). That has to happen before torch loads libblas, hence at the top.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _configure_blas(threads: int) -> str | None:
    """Set OpenBLAS's kernels and threads through the environment before torch is imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if "OPENBLAS_CORETYPE" not in os.environ:
        flags = _cpu_flags()
        if "avx512f" in flags:
            os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
        elif "avx2" in flags:
            os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    return os.environ.get("OPENBLAS_CORETYPE")


def _threads_arg(argv: list[str]) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 2


CORETYPE = _configure_blas(_threads_arg(sys.argv))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blip.onnx_weights import load_model_dir  # noqa: E402
from blip.pipeline import BlipReference  # noqa: E402
from blip.tokenizer import BertTokenizer  # noqa: E402

# ---------------------------------------------------------------- inputs shared with bench-model.ts

QUESTIONS = ["what is in the picture?", "what color is the circle?", "how many shapes are there?", "is there a square?",
             "what shape is the red object?", "where is the triangle?", "what is the size of the star?", "what color is the background?"]
TEXTS = ["a small green circle", "a large red square on the left", "two blue triangles", "a yellow star and a purple circle",
         "an empty picture", "a picture of a dog", "three shapes in a row", "a big orange square next to a circle"]


def bench_pixels(count: int, size: int, seed: int) -> np.ndarray:
    """[count, 3, size, size] float32 in [-2, 2): lowbias32 hash of (index + seed·0x9E3779B9) mod 2³²."""
    n = count * 3 * size * size
    x = (np.arange(n, dtype=np.uint64) + np.uint64((seed * 0x9E3779B9) & 0xFFFFFFFF)) & np.uint64(0xFFFFFFFF)
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return (x.astype(np.float64) / 4294967296.0 * 4.0 - 2.0).astype(np.float32).reshape(count, 3, size, size)


def questions(n: int) -> list[str]:
    return [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]


def texts(n: int) -> list[str]:
    return [TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else f" number {i}") for i in range(n)]


# ---------------------------------------------------------------- timing


def gemm_peak(threads: int, n: int = 2048, seconds: float = 2.0) -> float:
    """fp32 GFLOP/s of an n×n×n torch.mm (best of timed repetitions)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        torch.mm(a, b)
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def timed(fn, images: int, min_seconds: float, min_iters: int, max_iters: int, warmup: int) -> tuple[dict, object]:
    first = None
    for _ in range(warmup):
        first = fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < min_seconds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        first = first if first is not None else out
    total = sum(times)
    return {"images_per_s": images * len(times) / total, "iters": len(times), "seconds": round(total, 3),
            "best_s": round(min(times), 4)}, first


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path)
    p.add_argument("--cases", default="caption:1,caption:8,vqa:8,itm:32,vision:8")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1, help="pixel seed (bench-model.ts uses the same)")
    p.add_argument("--min-seconds", type=float, default=10.0)
    p.add_argument("--min-iters", type=int, default=2)
    p.add_argument("--max-iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--forms", default="grouped,index,original", help="caption/VQA forms to time (see above)")
    p.add_argument("--original-min-iters", type=int, default=1, help="iterations of the recompute-every-step form")
    p.add_argument("--gemm", action="store_true", help="also measure the fp32 GEMM peak")
    p.add_argument("--gemm-only", action="store_true", help="only measure the fp32 GEMM peak")
    p.add_argument("--json", type=Path, help="write the results here (default: stdout)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    log = lambda *x: print(*x, file=sys.stderr, flush=True)  # noqa: E731

    result: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "openblas_coretype": CORETYPE,
                    "model_dir": str(a.model_dir), "cases": []}
    if a.gemm or a.gemm_only:
        result["gemm_gflops"] = round(gemm_peak(a.threads), 1)
        log(f"torch fp32 GEMM (2048³, {a.threads} threads, OpenBLAS {CORETYPE or 'auto'}): {result['gemm_gflops']} GFLOP/s")
    if a.gemm_only:
        _write(result, a.json)
        return
    if a.model_dir is None:
        p.error("--model-dir is required (unless --gemm-only)")
    t0 = time.perf_counter()
    models, cfg, manifest = load_model_dir(a.model_dir, log=log)
    result["load_seconds"] = round(time.perf_counter() - t0, 1)
    result["model"] = manifest["version"]
    tok = BertTokenizer.from_file(a.model_dir / manifest["tokenizer"]["vocab"])
    refs = {"grouped": BlipReference(models, cfg, tok, grouped_cross=True), "index": BlipReference(models, cfg, tok),
            "original": BlipReference(models, cfg, tok, recompute_cross=True)}
    forms = [f for f in a.forms.split(",") if f]
    for f in forms:
        if f not in refs:
            raise SystemExit(f"unknown form {f!r} (known: {', '.join(refs)})")
    strong = refs["index"]
    caption_task = manifest["tasks"].get("caption", {})
    vqa_task = manifest["tasks"].get("vqa", {})

    def caption_fn(ref, px):
        return lambda: ref.caption(px, "beam", prompt=caption_task.get("prompt", "a picture of "),
                                   num_beams=caption_task.get("num_beams", 3), max_length=caption_task.get("max_length", 20),
                                   min_length=caption_task.get("min_length", 5),
                                   repetition_penalty=caption_task.get("repetition_penalty", 1.0))

    def vqa_fn(ref, px, qs):
        return lambda: ref.answer_generate(px, qs, num_beams=vqa_task.get("num_beams", 3), max_length=vqa_task.get("max_length", 10),
                                           min_length=vqa_task.get("min_length", 1))

    kinds_needed = {"caption": "caption", "vqa": "vqa", "itm": "itm", "vision": "itm"}
    with torch.inference_mode():
        for spec in a.cases.split(","):
            task, batch = spec.split(":")
            B = int(batch)
            case: dict = {"task": task, "batch": B}
            result["cases"].append(case)
            if kinds_needed[task] not in models:
                case["skipped"] = f"the model directory has no {kinds_needed[task]} model"
                log(f"{task} batch {B}: {case['skipped']}")
                continue
            size = manifest["tasks"][{"caption": "caption", "vqa": "vqa", "itm": "match", "vision": "match"}[task]]["image_size"]
            px = torch.from_numpy(bench_pixels(B, size, a.seed))
            timing = dict(min_seconds=a.min_seconds, min_iters=a.min_iters, max_iters=a.max_iters, warmup=a.warmup)
            # the original form runs right after the strong one on the same shapes: no warm-up call
            original_timing = dict(min_seconds=a.min_seconds / 2, min_iters=a.original_min_iters, max_iters=a.max_iters, warmup=0)
            if task in ("caption", "vqa"):
                qs = questions(B)
                make = (lambda ref: caption_fn(ref, px)) if task == "caption" else (lambda ref: vqa_fn(ref, px, qs))
                case["forms"] = {}
                for f in forms:
                    fr, out = timed(make(refs[f]), B, **(original_timing if f == "original" else timing))
                    case["forms"][f] = fr
                    if "outputs" not in case:
                        case["outputs"] = {"tokens": [c[0]["tokens"] for c in out] if task == "caption" else [x["tokens"] for x in out]}
                    log(f"torch {task} batch {B} [{f}]: {fr['images_per_s']:.3f} images/s ({fr['iters']} × {fr['seconds'] / fr['iters']:.2f} s)")
                # the strongest eager form: whichever form was fastest here
                best = max(forms, key=lambda f: case["forms"][f]["images_per_s"], default=None)
                r = dict(case["forms"][best], form=best) if best else {}
            elif task == "itm":
                tx = texts(B)
                r, out = timed(lambda: strong.match(px, tx), B, **timing)
                case["outputs"] = {"itm": [x["itm"] for x in out], "itc": [x["itc"] for x in out]}
            elif task == "vision":
                r, _ = timed(lambda: strong.image_embeds(px), B, **timing)
            else:
                raise SystemExit(f"unknown task {task}")
            case.update(r)
            if task in ("itm", "vision"):
                log(f"torch {task} batch {B}: {r['images_per_s']:.3f} images/s ({r['iters']} × {r['seconds'] / r['iters']:.2f} s)")
    _write(result, a.json)


def _write(result: dict, path: Path | None) -> None:
    text = json.dumps(result, indent=1)
    if path:
        path.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
