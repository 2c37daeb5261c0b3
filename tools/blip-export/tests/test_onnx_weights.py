"""onnx_weights.py: a model directory loads back into PyTorch with exactly its weights (the
benchmark's PyTorch side runs on them when the checkpoints are gone)."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from blip.blip import BLIP_ITM, BLIP_VQA, BLIP_Decoder
from blip.export_onnx import DECODER_FORMS, decoder_form, export
from blip.image import normalize
from blip.onnx_weights import WeightMapError, load_model_dir, load_reference
from tests.test_blip import REPO, small_config

TINY = REPO / "models" / "blip-tiny-shapes"


class RandomFamilyRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(3)
        cls.dir = Path(tempfile.mkdtemp(prefix="blip-weights-"))
        cfg = small_config()
        caption, itm, vqa = BLIP_Decoder(cfg), BLIP_ITM(cfg), BLIP_VQA(cfg)
        itm.visual_encoder = vqa.visual_encoder = caption.visual_encoder
        cls.originals = {"caption": caption, "itm": itm, "vqa": vqa}
        for m in cls.originals.values():  # biases and LayerNorms are 0/1 at init: make them all distinct
            with torch.no_grad():
                for p in m.parameters():
                    p.add_(torch.randn(p.shape) * 0.01)
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(33)] + ["[DEC]", "[ENC]"]
        export(cls.originals, cfg, vocab, cls.dir, "weights-test", {"layout": "random"}, fixtures=False)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_parameter_comes_back_exactly(self):
        models, _, _ = load_model_dir(self.dir, log=lambda *_: None)
        self.assertEqual(sorted(models), ["caption", "itm", "vqa"])
        for kind, original in self.originals.items():
            got = models[kind].state_dict()
            for k, v in original.state_dict().items():
                self.assertTrue(torch.equal(got[k], v), f"{kind}.{k}")

    def test_a_changed_weight_file_is_refused(self):
        broken = Path(tempfile.mkdtemp(prefix="blip-weights-broken-"))
        try:
            shutil.copytree(self.dir, broken, dirs_exist_ok=True)
            manifest = json.loads((broken / "manifest.json").read_text())
            del manifest["graphs"]["caption_cross_kv"]  # the cross-attention K/V weights are then in no graph
            (broken / "manifest.json").write_text(json.dumps(manifest))
            with self.assertRaisesRegex(WeightMapError, "in no graph"):
                load_model_dir(broken, log=lambda *_: None)
        finally:
            shutil.rmtree(broken, ignore_errors=True)


@unittest.skipUnless((TINY / "fixtures" / "parity.json").exists(), "no tiny model")
class TinyModelMatchesItsCheckpoints(unittest.TestCase):
    """The parity fixture was written by the PyTorch reference on the original checkpoints: the
    weights read back from the ONNX files must reproduce it."""

    def test_captions_answers_and_itm(self):
        torch.set_num_threads(2)
        fx = json.loads((TINY / "fixtures" / "parity.json").read_text())
        ref = load_reference(TINY, log=lambda *_: None)
        S = fx["image_size"]
        rgb = np.stack([np.frombuffer(base64.b64decode(im["resized_rgb_b64"]), dtype=np.uint8).reshape(S, S, 3) for im in fx["images"]])
        px = torch.from_numpy(normalize(rgb))
        beam = ref.caption(px, "beam", prompt="a picture of ", num_beams=3, max_length=20, min_length=5, num_captions=2)
        for got, exp in zip(beam, fx["caption"]["beam3_prompt"]):
            self.assertEqual([g["tokens"] for g in got], [e["tokens"] for e in exp])
            for g, e in zip(got, exp):
                self.assertAlmostEqual(g["score"], e["score"], delta=1e-4)
        qs = fx["vqa"]["questions"]
        answers = ref.answer_generate(px[torch.tensor([q["image"] for q in qs])], [q["question"] for q in qs])
        self.assertEqual([a["tokens"] for a in answers], [e["tokens"] for e in fx["vqa"]["generate"]])
        pairs = fx["match"]["pairs"]
        m = ref.match(px[torch.tensor([p["image"] for p in pairs])], [p["text"] for p in pairs])
        for got, exp in zip(m, pairs):
            self.assertAlmostEqual(got["itm"], exp["itm"], delta=1e-4)
            self.assertAlmostEqual(got["itc"], exp["itc"], delta=1e-4)


@unittest.skipUnless((TINY / "fixtures" / "parity.json").exists(), "no tiny model")
class TinyModelOtherDecoderForm(unittest.TestCase):
    """The tiny model re-exported from its own weights with the decoder form it does not ship
    (both forms stay loadable): onnxruntime-node must still pass every parity check against the
    fixture PyTorch wrote from the original checkpoints (only the version, a hash of the files, differs)."""

    def test_runtime_parity_with_the_other_decoder_form(self):
        npx = shutil.which("npx")
        if npx is None or not (REPO / "node_modules" / "onnxruntime-node").exists():
            self.fail("node_modules missing: run npm ci (the parity test runs the graphs with onnxruntime-node)")
        torch.set_num_threads(2)
        out = Path(tempfile.mkdtemp(prefix="blip-tiny-grouped-"))
        try:
            models, cfg, manifest = load_model_dir(TINY, log=lambda *_: None)
            vocab = (TINY / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
            settings = {t: {k: v for k, v in spec.items() if k != "graphs"} for t, spec in manifest["tasks"].items()}
            shipped = decoder_form([i["name"] for i in manifest["graphs"]["caption_decoder"]["inputs"]])
            other = next(f for f in DECODER_FORMS if f != shipped)
            new = export(models, cfg, vocab, out, manifest["name"], manifest["source"], tasks_extra=settings, fixtures=False, form=other)
            self.assertEqual(decoder_form([i["name"] for i in new["graphs"]["caption_decoder"]["inputs"]]), other)
            fx = json.loads((TINY / "fixtures" / "parity.json").read_text())
            fx["model"] = new["version"]
            (out / "fixtures").mkdir()
            (out / "fixtures" / "parity.json").write_text(json.dumps(fx))
            env = dict(os.environ, BLIP_MODEL_DIR=str(out))
            r = subprocess.run([npx, "vitest", "run", "src/parity.test.ts"], cwd=REPO / "libs" / "med-model", env=env,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-2000:])
            self.assertRegex(r.stdout, r"\d+ passed")
            self.assertNotRegex(r.stdout, r"\d+ failed")
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
