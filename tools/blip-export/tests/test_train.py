"""shapes/train.py: resuming a run from a shipped model directory."""
from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

import torch

from blip.onnx_weights import load_model_dir
from shapes.train import PHASES, seed_from_model
from tests.test_blip import REPO

TINY = REPO / "models" / "blip-tiny-shapes"


class SeedFromModel(unittest.TestCase):
    """The shipped captioner and filter are the state after caption_filter; seeding there leaves vqa."""

    def test_resume_point_holds_the_shipped_weights(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "run"
            seed_from_model(out, TINY, "caption_filter", 20260128, PHASES, 2)
            state = torch.load(out / "train_state.pt")
            names = [p.name for p in PHASES]
            self.assertEqual((state["phase"], state["step"], state["vqa"], state["opt"]), (names.index("vqa"), 0, None, None))
            models, _, _ = load_model_dir(TINY, log=lambda *_: None)
            shipped = {**models["caption"].state_dict(), **models["itm"].state_dict()}
            pre = state["pretrain"]
            self.assertEqual(set(pre) - set(shipped), {"temp"})
            for k, v in pre.items():
                if k != "temp":
                    self.assertTrue(torch.equal(v, shipped[k]), k)
            self.assertTrue(0.001 <= float(pre["temp"]) <= 0.5)
            phases = {json.loads(line)["phase"] for line in (out / "train_log.jsonl").read_text().splitlines()}
            shipped_phases = {json.loads(line)["phase"] for line in (TINY / "train_log.jsonl").read_text().splitlines()}
            self.assertEqual(phases, shipped_phases - {"vqa"})
            self.assertEqual((out / "vocab.txt").read_text(), (TINY / "vocab.txt").read_text())
            with self.assertRaises(SystemExit):  # never overwrites a run
                seed_from_model(out, TINY, "caption_filter", 20260128, PHASES, 2)
            with self.assertRaises(SystemExit):
                seed_from_model(Path(d) / "other", TINY, "vqa", 20260128, PHASES, 2)


if __name__ == "__main__":
    unittest.main()
