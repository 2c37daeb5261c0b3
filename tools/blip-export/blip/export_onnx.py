"""Export BLIP checkpoints to the model directory libs/med-model reads (docs/model-directory.md).

  # an official checkpoint (the vocabulary is bert-base-uncased + [DEC]/[ENC])
  python3 -m blip.export_onnx --checkpoint model_base_caption_capfilt_large.pth --vocab vocab.txt --out models/blip-base-caption
  # several checkpoints of one family (graphs of identical ViTs are written once)
  python3 -m blip.export_onnx --checkpoint a.pth --checkpoint b.pth --vocab vocab.txt --out DIR --name NAME
  # base-size random weights, for benchmarks (never committed)
  python3 -m blip.export_onnx --random base --tasks caption,itm --out bench/models/blip-base-random

Every graph's tensors go to one weights.bin, deduplicated by content (ONNX external data), so
graphs that share weights (text encoder modes, decoder step and its cross K/V) store them once.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .blip import BLIP_ITM, BLIP_VQA, MODEL_CLASSES, BLIP_Decoder
from .checkpoints import CheckpointError, infer_config, load_checkpoint, load_into
from .config import IMAGE_MEAN, IMAGE_STD, BlipConfig, SpecialTokens, base_config, large_config
from .med import BertLMHeadModel

OPSET = 17
FORMAT = "blip-jobs/model@1"
DECODER_FORMS = ("grouped", "gather")

# ---------------------------------------------------------------- graph modules (one per role)


class VisionGraph(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.vit = model.visual_encoder
        self.proj = getattr(model, "vision_proj", None)

    def forward(self, pixel_values):
        emb = self.vit(pixel_values)
        if self.proj is None:
            return emb
        return emb, torch.nn.functional.normalize(self.proj(emb[:, 0, :]), dim=-1)


class TextUnimodalGraph(nn.Module):
    def __init__(self, model: BLIP_ITM):
        super().__init__()
        self.m = model

    def forward(self, input_ids, attention_mask):
        return self.m.text_itc(input_ids, attention_mask)


class TextImageGraph(nn.Module):
    def __init__(self, model: BLIP_ITM):
        super().__init__()
        self.m = model

    def forward(self, input_ids, attention_mask, image_embeds):
        return self.m.itm_logits(input_ids, attention_mask, image_embeds)


class QuestionEncoderGraph(nn.Module):
    def __init__(self, model: BLIP_VQA):
        super().__init__()
        self.m = model

    def forward(self, input_ids, attention_mask, image_embeds):
        return self.m.question_states(input_ids, attention_mask, image_embeds)


class CrossKVGraph(nn.Module):
    def __init__(self, decoder: BertLMHeadModel):
        super().__init__()
        self.bert = decoder.bert

    def forward(self, encoder_hidden_states):
        return tuple(t for kv in self.bert.cross_kv(encoder_hidden_states) for t in kv)


class DecoderGraph(nn.Module):
    """One decoder step. "grouped" (the default): rows are image-major, R = C·G, and each image's
    G rows attend to its cross K/V in one product; "gather": a `cross_index` [R] input maps rows to
    images and the K/V are gathered per row at every step (the form of exports before the grouped one)."""

    def __init__(self, decoder: BertLMHeadModel, form: str = "grouped"):
        super().__init__()
        if form not in DECODER_FORMS:
            raise ValueError(f"decoder form {form!r} is not one of {DECODER_FORMS}")
        self.decoder = decoder
        self.L = len(decoder.bert.encoder.layer)
        self.form = form

    def forward(self, input_ids, attention_mask, *rest):
        L = self.L
        past = [(rest[2 * i], rest[2 * i + 1]) for i in range(L)]
        cross = [(rest[2 * L + 2 * i], rest[2 * L + 2 * i + 1]) for i in range(L)]
        sharing = {"cross_grouped": True} if self.form == "grouped" else {"cross_index": rest[4 * L + 1]}
        logits, presents = self.decoder(input_ids, attention_mask, encoder_attention_mask=rest[4 * L],
                                        past_key_values=past, cross_key_values=cross, **sharing)
        return (logits, *[t for kv in presents for t in kv])


def decoder_form(graph_inputs: list[str]) -> str:
    """The form of an exported decoder graph, from its input names."""
    return "gather" if "cross_index" in graph_inputs else "grouped"


def _kv_names(prefix: str, L: int) -> list[str]:
    return [f"{prefix}_{kind}_{i}" for i in range(L) for kind in ("key", "value")]


# ---------------------------------------------------------------- example inputs for tracing and fixtures


def _ids(B: int, T: int, vocab: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(5, vocab, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[-1, T - 2 :] = 0  # one padded row
    ids[-1, T - 2 :] = 0
    return ids, mask


def graph_specs(models: dict[str, nn.Module], cfg: BlipConfig, g: torch.Generator, form: str = "grouped") -> list[dict]:
    """(name, module, example inputs by name, output names, dynamic axes) for every graph to export;
    `form`: the decoder graphs' form (DecoderGraph)."""
    v, t = cfg.vision, cfg.text
    S, N, Dv, H, dh, L = v.image_size, v.num_tokens, v.width, t.num_attention_heads, t.head_size, t.num_hidden_layers
    specs = []
    pixels = torch.randn(2, 3, S, S, generator=g)
    image_embeds = torch.randn(2, N, Dv, generator=g)
    vision_src = models.get("itm") or models.get("caption") or models.get("vqa")
    specs.append(dict(name="vision", module=VisionGraph(vision_src), inputs={"pixel_values": pixels},
                      outputs=["image_embeds"] + (["image_itc"] if hasattr(vision_src, "vision_proj") else []),
                      dynamic={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}, "image_itc": {0: "batch"}}))
    ids, mask = _ids(2, 7, t.vocab_size, g)
    if "itm" in models:
        m = models["itm"]
        specs.append(dict(name="text_unimodal", module=TextUnimodalGraph(m), inputs={"input_ids": ids, "attention_mask": mask},
                          outputs=["text_itc"], dynamic={"input_ids": {0: "batch", 1: "text"}, "attention_mask": {0: "batch", 1: "text"}, "text_itc": {0: "batch"}}))
        specs.append(dict(name="text_image", module=TextImageGraph(m), inputs={"input_ids": ids, "attention_mask": mask, "image_embeds": image_embeds},
                          outputs=["itm_logits"], dynamic={"input_ids": {0: "batch", 1: "text"}, "attention_mask": {0: "batch", 1: "text"},
                                                          "image_embeds": {0: "batch"}, "itm_logits": {0: "batch"}}))
    for kind, prefix in (("caption", "caption"), ("vqa", "vqa")):
        if kind not in models:
            continue
        m = models[kind]
        if kind == "vqa":
            specs.append(dict(name="vqa_question_encoder", module=QuestionEncoderGraph(m),
                              inputs={"input_ids": ids, "attention_mask": mask, "image_embeds": image_embeds}, outputs=["question_states"],
                              dynamic={"input_ids": {0: "batch", 1: "text"}, "attention_mask": {0: "batch", 1: "text"},
                                       "image_embeds": {0: "batch"}, "question_states": {0: "batch", 1: "text"}}))
            enc = torch.randn(2, 7, t.hidden_size, generator=g)
            enc_mask = mask
        else:  # any number of encoder states traces the same graph; 5 keeps the fixtures small
            enc = torch.randn(2, 5, Dv, generator=g)
            enc_mask = torch.ones(2, 5, dtype=torch.long)
        M = enc.shape[1]
        cross_names = _kv_names("cross", L)
        specs.append(dict(name=f"{prefix}_cross_kv", module=CrossKVGraph(m.text_decoder), inputs={"encoder_hidden_states": enc},
                          outputs=cross_names, dynamic={"encoder_hidden_states": {0: "images", 1: "enc_len"},
                                                        **{n: {0: "images", 2: "enc_len"} for n in cross_names}}))
        with torch.no_grad():
            cross = CrossKVGraph(m.text_decoder)(enc)
        R, P, T = (3 if form == "gather" else 2 * enc.shape[0]), 3, 2
        inputs = {"input_ids": torch.randint(5, t.vocab_size, (R, T), generator=g),
                  "attention_mask": torch.ones(R, P + T, dtype=torch.long)}
        for n in _kv_names("past", L):
            inputs[n] = torch.randn(R, H, P, dh, generator=g)
        for n, x in zip(cross_names, cross):
            inputs[n] = x
        inputs["encoder_attention_mask"] = enc_mask
        if form == "gather":
            inputs["cross_index"] = torch.tensor([0, 1, 1])
        dyn = {"input_ids": {0: "rows", 1: "new"}, "attention_mask": {0: "rows", 1: "total"},
               "encoder_attention_mask": {0: "images", 1: "enc_len"}, "cross_index": {0: "rows"}, "logits": {0: "rows", 1: "new"}}
        dyn.update({n: {0: "rows", 2: "past"} for n in _kv_names("past", L)})
        dyn.update({n: {0: "images", 2: "enc_len"} for n in cross_names})
        dyn.update({n: {0: "rows", 2: "total"} for n in _kv_names("present", L)})
        specs.append(dict(name=f"{prefix}_decoder", module=DecoderGraph(m.text_decoder, form), inputs=inputs,
                          outputs=["logits"] + _kv_names("present", L), dynamic=dyn))
    return specs


def fixture_cases(spec: dict, cfg: BlipConfig, g: torch.Generator) -> list[dict[str, torch.Tensor]]:
    """Inputs for the round-trip fixture: the traced example plus, for decoders, a first step with
    a zero-length past (the form generation starts with)."""
    cases = [spec["inputs"]]
    if spec["name"].endswith("_decoder"):
        first = dict(spec["inputs"])
        R, T = spec["inputs"]["input_ids"].shape[0], 4
        first["input_ids"] = torch.randint(5, cfg.text.vocab_size, (R, T), generator=g)
        first["attention_mask"] = torch.ones(R, T, dtype=torch.long)
        for n in _kv_names("past", cfg.text.num_hidden_layers):
            first[n] = torch.zeros(R, cfg.text.num_attention_heads, 0, cfg.text.head_size)
        cases.append(first)
    return cases


# ---------------------------------------------------------------- writing graphs, weights, manifest


class WeightStore:
    """Appends initializer bytes to weights.bin once per distinct content (64-byte aligned)."""

    ALIGN = 64
    MIN_EXTERNAL = 1024  # tiny tensors stay inline

    def __init__(self, path: Path):
        self.path = path
        self.f = open(path, "wb")
        self.offsets: dict[str, tuple[int, int]] = {}
        self.size = 0

    def externalize(self, model: onnx.ModelProto) -> None:
        for t in model.graph.initializer:
            arr = numpy_helper.to_array(t)
            data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
            if len(data) < self.MIN_EXTERNAL:
                continue
            key = hashlib.sha256(f"{arr.dtype}{arr.shape}".encode() + data).hexdigest()
            if key not in self.offsets:
                pad = (-self.size) % self.ALIGN
                self.f.write(b"\0" * pad)
                self.size += pad
                self.offsets[key] = (self.size, len(data))
                self.f.write(data)
                self.size += len(data)
            off, length = self.offsets[key]
            for field in ("raw_data", "float_data", "int64_data", "int32_data", "double_data"):
                t.ClearField(field)
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, val in (("location", self.path.name), ("offset", str(off)), ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, val

    def close(self) -> None:
        self.f.close()


def _dtype_name(elem_type: int) -> str:
    return {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.FLOAT16: "float16"}[elem_type]


def _signature(values) -> list[dict]:
    out = []
    for v in values:
        tt = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
        out.append({"name": v.name, "dtype": _dtype_name(tt.elem_type), "shape": shape})
    return out


def trace_graph(spec: dict) -> onnx.ModelProto:
    """The ONNX graph of one spec, weights inline (also used by onnx_weights.py to map a model
    directory's initializers back to parameter names)."""
    names = list(spec["inputs"])
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(spec["module"].eval(), tuple(spec["inputs"].values()), buf, input_names=names,
                          output_names=spec["outputs"], dynamic_axes={k: v for k, v in spec["dynamic"].items() if k in names + spec["outputs"]},
                          opset_version=OPSET, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def export_graph(spec: dict, out_dir: Path, store: WeightStore) -> dict:
    model = trace_graph(spec)
    store.externalize(model)
    file = f"{spec['name']}.onnx"
    (out_dir / file).write_bytes(model.SerializeToString())
    return {"file": file, "inputs": _signature(model.graph.input), "outputs": _signature(model.graph.output)}


def encode_tensor(x: torch.Tensor) -> dict:
    arr = x.detach().cpu().contiguous().numpy()
    arr = arr.astype("<f4") if arr.dtype.kind == "f" else arr.astype("<i8")
    return {"dtype": "float32" if arr.dtype.kind == "f" else "int64", "shape": list(arr.shape), "b64": base64.b64encode(arr.tobytes()).decode()}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entries(out_dir: Path) -> tuple[dict, str]:
    """The manifest's `files` (sha256 and size of every graph, weight and vocab file) and the
    12-hex digest over them that makes the version."""
    files = {}
    for f in sorted(p.name for p in out_dir.iterdir() if p.suffix in (".onnx", ".bin", ".txt")):
        files[f] = {"sha256": sha256_file(out_dir / f), "bytes": (out_dir / f).stat().st_size}
    digest = hashlib.sha256("".join(files[f]["sha256"] for f in sorted(files)).encode()).hexdigest()[:12]
    return files, digest


def export(models: dict[str, nn.Module], cfg: BlipConfig, vocab: list[str], out_dir: Path, name: str, source: dict,
           tasks_extra: dict | None = None, fixtures: bool = True, form: str = "grouped") -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    for m in models.values():
        m.eval()
    g = torch.Generator().manual_seed(0)
    specs = graph_specs(models, cfg, g, form)
    store = WeightStore(out_dir / "weights.bin")
    graphs, cases = {}, []
    for spec in specs:
        graphs[spec["name"]] = export_graph(spec, out_dir, store)
        if fixtures:
            for inputs in fixture_cases(spec, cfg, g):
                with torch.no_grad():
                    outs = spec["module"](*inputs.values())
                outs = outs if isinstance(outs, tuple) else (outs,)
                cases.append({"graph": spec["name"], "inputs": {k: encode_tensor(v) for k, v in inputs.items()},
                              "outputs": {k: encode_tensor(v) for k, v in zip(spec["outputs"], outs)}})
    store.close()
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")

    S = cfg.vision.image_size
    # The first checkpoint's config (often the captioner, which has no ITC projections) may carry
    # a default embed_dim: the projection's own width is the truth.
    embed_dim = models["itm"].vision_proj.out_features if "itm" in models else cfg.embed_dim
    tasks = {}
    if "caption" in models:
        tasks["caption"] = {"image_size": S, "graphs": {"vision": "vision", "cross_kv": "caption_cross_kv", "decoder": "caption_decoder"},
                            "prompt": "a picture of ", "num_beams": 3, "max_length": 20, "min_length": 5, "repetition_penalty": 1.0}
    if "itm" in models:
        itm_graphs = {"vision": "vision", "text_unimodal": "text_unimodal", "text_image": "text_image"}
        tasks["match"] = {"image_size": S, "graphs": itm_graphs, "first_token": "enc", "max_text_length": 35}
        tasks["embed"] = {"image_size": S, "graphs": {"vision": "vision", "text_unimodal": "text_unimodal"}, "embed_dim": embed_dim}
    if "vqa" in models:
        tasks["vqa"] = {"image_size": S, "graphs": {"vision": "vision", "question_encoder": "vqa_question_encoder",
                                                     "cross_kv": "vqa_cross_kv", "decoder": "vqa_decoder"},
                        "first_token": "enc", "num_beams": 3, "max_length": 10, "min_length": 1, "rank_k": 128, "max_question_words": 50}
    for task, extra in (tasks_extra or {}).items():
        tasks.setdefault(task, {}).update(extra)

    files, digest = file_entries(out_dir)
    st = cfg.special_tokens
    manifest = {
        "format": FORMAT, "name": name, "version": f"{name}@{digest}", "source": source,
        "architecture": {
            "vision": {"image_size": S, "patch_size": cfg.vision.patch_size, "width": cfg.vision.width, "depth": cfg.vision.depth,
                       "heads": cfg.vision.heads, "num_tokens": cfg.vision.num_tokens, "layer_norm_eps": cfg.vision.layer_norm_eps},
            "text": {"hidden": cfg.text.hidden_size, "layers": cfg.text.num_hidden_layers, "heads": cfg.text.num_attention_heads,
                     "intermediate": cfg.text.intermediate_size, "vocab_size": cfg.text.vocab_size, "max_position": cfg.text.max_position_embeddings},
            "embed_dim": embed_dim,
        },
        "preprocess": {"resize": "bicubic", "mean": list(IMAGE_MEAN), "std": list(IMAGE_STD)},
        "tokenizer": {"vocab": "vocab.txt", "lowercase": True, "max_text_length": 35,
                      "special_tokens": {"pad": st.pad, "unk": st.unk, "cls": st.cls, "sep": st.sep, "mask": st.mask, "dec": st.dec, "enc": st.enc}},
        "tasks": tasks, "graphs": graphs, "files": files, "opset": OPSET, "dtype": "float32",
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if fixtures:
        fx = out_dir / "fixtures"
        fx.mkdir(exist_ok=True)
        (fx / "roundtrip.json").write_text(json.dumps({"model": manifest["version"], "tolerance": 1e-4, "cases": cases}))
    return manifest


# ---------------------------------------------------------------- command line


def kind_of(sd: dict) -> str:
    has = lambda p: any(k.startswith(p) for k in sd)  # noqa: E731
    if has("text_decoder.") and has("text_encoder."):
        return "vqa"
    if has("text_decoder."):
        return "caption"
    if has("itm_head."):
        return "itm"
    raise CheckpointError("checkpoint has neither text_decoder nor itm_head: not a captioning, VQA or ITM model")


def load_models(paths: list[Path], vocab_size: int, special: SpecialTokens, image_size: int | None) -> tuple[dict, BlipConfig]:
    models, cfg = {}, None
    for path in paths:
        sd, saved = load_checkpoint(path)
        kind = kind_of(sd)
        c = saved or infer_config(sd, vocab_size)
        if image_size:
            c.vision.image_size = image_size
        c.special_tokens = special
        model = (BLIP_ITM if kind == "itm" else MODEL_CLASSES[kind])(c)
        ignored = load_into(model, sd)
        if ignored:
            print(f"{path.name}: ignored {len(ignored)} checkpoint keys the {kind} model does not use (e.g. {ignored[:3]})")
        models[kind] = model
        cfg = cfg or c
    return models, cfg


def special_from_vocab(vocab: list[str]) -> SpecialTokens:
    idx = {t: i for i, t in enumerate(vocab)}
    return SpecialTokens(pad=idx["[PAD]"], unk=idx["[UNK]"], cls=idx["[CLS]"], sep=idx["[SEP]"], mask=idx["[MASK]"], dec=idx["[DEC]"], enc=idx["[ENC]"])


def bert_vocab_with_added(path: Path) -> list[str]:
    vocab = path.read_text(encoding="utf-8").split("\n")[:-1]
    if "[DEC]" not in vocab:  # HF's hub tokenizer files lack BLIP's added tokens: add them as BLIP does
        vocab += ["[DEC]", "[ENC]"]
    return vocab


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, action="append", default=[])
    p.add_argument("--vocab", type=Path, help="vocab.txt (bert-base-uncased for official checkpoints)")
    p.add_argument("--random", choices=["base", "large"], help="random weights of this size (benchmarks)")
    p.add_argument("--tasks", default="caption,itm,vqa", help="with --random: which task models to export")
    p.add_argument("--image-size", type=int, help="export at another image size (position embeddings interpolated)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name")
    p.add_argument("--layout", default="blip", choices=["blip", "hf", "trained-here"], help="where the checkpoints come from (recorded in the manifest)")
    p.add_argument("--no-fixtures", action="store_true")
    p.add_argument("--decoder-form", choices=DECODER_FORMS, default="grouped",
                   help="grouped: beams of an image share its cross K/V in one product (default); gather: a cross_index input, K/V gathered per row")
    a = p.parse_args()
    torch.set_num_threads(2)
    if a.random:
        cfg = (base_config if a.random == "base" else large_config)(a.image_size or 384)
        vocab = [f"[unused{i}]" for i in range(cfg.text.vocab_size)]
        for tok, i in (("[PAD]", 0), ("[UNK]", 100), ("[CLS]", 101), ("[SEP]", 102), ("[MASK]", 103), ("[DEC]", 30522), ("[ENC]", 30523)):
            vocab[i] = tok
        torch.manual_seed(0)
        classes = {"caption": BLIP_Decoder, "itm": BLIP_ITM, "vqa": BLIP_VQA}
        models = {t: classes[t](cfg) for t in a.tasks.split(",")}
        first = next(iter(models.values()))
        for m in models.values():  # one family: one ViT, exported once
            m.visual_encoder = first.visual_encoder
        source = {"layout": "random", "size": a.random}
    else:
        if not a.checkpoint or not a.vocab:
            p.error("--checkpoint and --vocab are required unless --random")
        vocab = bert_vocab_with_added(a.vocab)
        models, cfg = load_models(a.checkpoint, len(vocab), special_from_vocab(vocab), a.image_size)
        source = {"layout": a.layout, "checkpoints": [c.name for c in a.checkpoint]}
    manifest = export(models, cfg, vocab, a.out, a.name or a.out.name, source, fixtures=not a.no_fixtures, form=a.decoder_form)
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"wrote {a.out}: {manifest['version']}, {len(manifest['graphs'])} graphs, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
