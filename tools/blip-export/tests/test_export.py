"""Export round trip: a small random BLIP family → model directory → onnxruntime-node (via the
med-model round-trip test) must reproduce PyTorch within 1e-4, including a zero-length past."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import torch

from blip.blip import BLIP_ITM, BLIP_VQA, BLIP_Decoder
from blip.export_onnx import export
from tests.test_blip import REPO, small_config


class ExportRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.dir = Path(tempfile.mkdtemp(prefix="blip-export-"))
        cfg = small_config()
        caption = BLIP_Decoder(cfg)
        itm = BLIP_ITM(cfg)
        vqa = BLIP_VQA(cfg)
        itm.visual_encoder = vqa.visual_encoder = caption.visual_encoder  # one family, one ViT
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(33)] + ["[DEC]", "[ENC]"]
        cls.manifest = export({"caption": caption, "itm": itm, "vqa": vqa}, cfg, vocab, cls.dir, "test-family", {"layout": "random"})

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_manifest_lists_every_file_with_its_checksum(self):
        for name, info in self.manifest["files"].items():
            data = (self.dir / name).read_bytes()
            self.assertEqual(len(data), info["bytes"], name)
            self.assertEqual(hashlib.sha256(data).hexdigest(), info["sha256"], name)
        self.assertRegex(self.manifest["version"], r"^test-family@[0-9a-f]{12}$")

    def test_graph_contract(self):
        g = self.manifest["graphs"]
        self.assertEqual(sorted(g), sorted(["vision", "text_unimodal", "text_image", "caption_cross_kv", "caption_decoder",
                                            "vqa_question_encoder", "vqa_cross_kv", "vqa_decoder"]))
        names = lambda vs: [v["name"] for v in vs]  # noqa: E731
        self.assertEqual(names(g["vision"]["outputs"]), ["image_embeds", "image_itc"])
        dec_in = names(g["caption_decoder"]["inputs"])
        self.assertEqual(dec_in[:2], ["input_ids", "attention_mask"])
        self.assertEqual(dec_in[-1], "encoder_attention_mask")  # grouped form: no cross_index
        self.assertNotIn("cross_index", dec_in)
        self.assertIn("past_key_1", dec_in)
        self.assertIn("cross_value_1", dec_in)
        self.assertIn("present_value_1", names(g["caption_decoder"]["outputs"]))
        self.assertEqual(self.manifest["tasks"]["caption"]["graphs"]["vision"], "vision")
        self.assertEqual(self.manifest["tasks"]["vqa"]["graphs"]["decoder"], "vqa_decoder")

    def test_shared_weights_are_stored_once(self):
        """The unimodal (ITC) and image-grounded (ITM) encoders are one set of weights: every tensor
        of the unimodal graph but text_proj is a slice of weights.bin that the ITM graph points at too."""
        import onnx

        def offsets(graph: str) -> set[str]:
            m = onnx.load(str(self.dir / self.manifest["graphs"][graph]["file"]), load_external_data=False)
            return {d["offset"] for t in m.graph.initializer if (d := {e.key: e.value for e in t.external_data})}

        unimodal, itm = offsets("text_unimodal"), offsets("text_image")
        self.assertGreater(len(unimodal), 4)
        self.assertEqual(len(unimodal - itm), 1)  # text_proj, which only ITC uses

    def test_onnxruntime_node_matches_pytorch(self):
        npx = shutil.which("npx")
        if npx is None or not (REPO / "node_modules" / "onnxruntime-node").exists():
            self.fail("node_modules missing: run npm ci (the round trip runs the graphs with onnxruntime-node)")
        env = dict(os.environ, BLIP_MODEL_DIRS=str(self.dir))
        r = subprocess.run([npx, "vitest", "run", "src/roundtrip.test.ts"], cwd=REPO / "libs" / "med-model", env=env,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-2000:])
        self.assertIn("passed", r.stdout)
        fixture = json.loads((self.dir / "fixtures" / "roundtrip.json").read_text())
        decoder_pasts = [c["inputs"]["past_key_0"]["shape"][2] for c in fixture["cases"] if c["graph"] == "caption_decoder"]
        self.assertIn(0, decoder_pasts, "a zero-length past must be among the round-trip cases")


if __name__ == "__main__":
    unittest.main()
