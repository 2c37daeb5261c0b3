"""The held-out shapes split through the Node runtime (sharp decode, PIL-exact resize, ONNX
sessions in a worker) scores exactly what the PyTorch evaluation wrote to eval.json."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from shapes.evaluate import load_split, score_predictions
from tests.test_blip import REPO

MODEL = REPO / "models" / "blip-tiny-shapes"
SPLIT = REPO / "datasets" / "shapes-test"


class RuntimeAccuracy(unittest.TestCase):
    def test_runtime_matches_eval_json(self):
        npx = shutil.which("npx")
        if npx is None or not (REPO / "node_modules" / "tsx").exists():
            self.fail("node_modules missing: run npm ci")
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "predictions.jsonl"
            r = subprocess.run([npx, "tsx", "libs/med-model/examples/predict-shapes.ts", str(out)], cwd=REPO,
                               env=dict(os.environ, BLIP_MODEL_DIR=str(MODEL)), capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            preds = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        got = score_predictions(load_split(SPLIT), preds)
        want = json.loads((MODEL / "eval.json").read_text())
        for key in ("test_images", "caption_exact_match", "vqa_accuracy_generate", "vqa_accuracy_rank", "vqa_questions"):
            self.assertEqual(got[key], want[key], key)


if __name__ == "__main__":
    unittest.main()
