"""quantize.py: the int8 export rewrites the MatMuls its policy names, and only those, into the
pattern onnxruntime fuses; the directory it writes is a complete model directory."""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import unittest
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from blip.quantize import quantize_columns, quantize_dir
from tests.test_blip import REPO

TINY = REPO / "models" / "blip-tiny-shapes"


def op_counts(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)


class QuantizeColumns(unittest.TestCase):
    def test_round_trip_error_is_at_most_half_a_step_per_column(self):
        w = np.random.default_rng(0).normal(size=(64, 48)).astype(np.float32) * np.linspace(0.01, 3, 48, dtype=np.float32)
        q, scale = quantize_columns(w)
        self.assertEqual(q.dtype, np.int8)
        self.assertEqual(scale.shape, (48,))
        self.assertLessEqual(int(np.abs(q.astype(np.int32)).max()), 127)
        err = np.abs(q * scale[None, :] - w)
        self.assertTrue(np.all(err <= scale[None, :] / 2 + 1e-7))

    def test_an_all_zero_column_gets_a_finite_scale(self):
        w = np.zeros((4, 2), dtype=np.float32)
        w[:, 1] = [1, -2, 3, -4]
        q, scale = quantize_columns(w)
        self.assertTrue(np.all(np.isfinite(scale)))
        self.assertTrue(np.all(q[:, 0] == 0))


class QuantizeTinyDirectory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="blip-int8-"))
        cls.out = {policy: cls.tmp / policy for policy in ("ffn", "all")}
        cls.manifests = {policy: quantize_dir(TINY, out, decoders=policy) for policy, out in cls.out.items()}
        cls.source = json.loads((TINY / "manifest.json").read_text())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_manifest_records_the_quantization_and_a_new_version(self):
        m = self.manifests["ffn"]
        self.assertEqual(m["quantization"]["source_version"], self.source["version"])
        self.assertEqual(m["quantization"]["decoders"], "ffn")
        self.assertTrue(m["version"].startswith("blip-tiny-shapes-int8@"))
        self.assertNotEqual(m["version"].split("@")[1], self.source["version"].split("@")[1])
        self.assertEqual(m["graphs"], self.source["graphs"])  # same inputs and outputs: the runtime loads it as is

    def test_every_listed_file_exists_with_its_checksum(self):
        out = self.out["ffn"]
        for name, f in self.manifests["ffn"]["files"].items():
            data = (out / name).read_bytes()
            self.assertEqual(len(data), f["bytes"], name)
            self.assertEqual(hashlib.sha256(data).hexdigest(), f["sha256"], name)
        self.assertFalse((out / "fixtures").exists())  # float32 fixtures would not hold

    def test_ffn_policy_rewrites_encoders_fully_and_only_the_decoder_feed_forward_layers(self):
        layers = self.source["architecture"]["text"]["layers"]
        out = self.out["ffn"]
        vision = op_counts(out / "vision.onnx")
        self.assertEqual(vision["MatMulInteger"], self.manifests["ffn"]["quantization"]["matmuls_per_graph"]["vision"])
        self.assertEqual(vision["MatMulInteger"], 4 * self.source["architecture"]["vision"]["depth"])
        decoder = op_counts(out / "caption_decoder.onnx")
        self.assertEqual(decoder["MatMulInteger"], 2 * layers)  # intermediate + output dense per layer
        self.assertEqual(op_counts(out / "caption_cross_kv.onnx")["MatMulInteger"], 0)
        # activations are quantized once per tensor, however many MatMuls read them (BERT's Q, K, V)
        text = op_counts(out / "text_image.onnx")
        self.assertLess(text["DynamicQuantizeLinear"], text["MatMulInteger"])

    def test_all_policy_leaves_no_float_weight_matmul(self):
        for graph, spec in self.manifests["all"]["graphs"].items():
            model = onnx.load(str(self.out["all"] / spec["file"]))
            inits = {t.name for t in model.graph.initializer}
            float_weight = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
            self.assertEqual(float_weight, [], graph)
            onnx.checker.check_model(model)

    def test_int8_weights_are_a_quarter_of_the_float_bytes(self):
        src = (TINY / "weights.bin").stat().st_size
        self.assertLess((self.out["all"] / "weights.bin").stat().st_size, 0.45 * src)

    def test_an_int8_directory_is_not_quantized_again(self):
        with self.assertRaises(SystemExit):
            quantize_dir(self.out["ffn"], self.tmp / "twice")


if __name__ == "__main__":
    unittest.main()
