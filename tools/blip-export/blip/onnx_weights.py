"""Load a model directory (docs/model-directory.md) back into the PyTorch modules of blip.py, with
the very weights the ONNX graphs hold: the PyTorch reference on the same weights as the runtime
when the original checkpoints are gone (the benchmark's PyTorch side; `BlipReference`).

The graphs keep parameter names for most initializers, but torch.onnx.export folds the transposed
weight of every Linear that feeds a MatMul into an anonymous `onnx::MatMul_N`, and weights.bin
stores each distinct content once. So names are not read, they are re-derived: the graph modules
of export_onnx.py are traced again (same torch, same code: same graph, same initializer names)
from models whose every parameter holds distinct random values; each traced initializer is then
found among the parameters by content, as is or transposed. The model directory's initializer of
the same name gives that parameter its value. Checks, all fatal:
  - every graph traces to the same node sequence (op types) and initializer names/shapes as the file;
  - every parameter of every task model gets a value; one that appears in several graphs (a shared
    ViT, the text encoder of text_unimodal and text_image, a tied LM head) gets the same value from each;
  - every initializer that is not a parameter (folded constants) is byte-identical to the trace's.

  python3 -m blip.onnx_weights MODEL_DIR     # load, report what was mapped
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .blip import BLIP_ITM, BLIP_VQA, BLIP_Decoder
from .config import BlipConfig, SpecialTokens, TextConfig, VisionConfig
from .export_onnx import decoder_form, graph_specs, trace_graph

TASK_MODELS = {"caption": ("caption", BLIP_Decoder), "match": ("itm", BLIP_ITM), "embed": ("itm", BLIP_ITM), "vqa": ("vqa", BLIP_VQA)}


class WeightMapError(ValueError):
    pass


def config_from_manifest(manifest: dict) -> BlipConfig:
    a = manifest["architecture"]
    v, t = a["vision"], a["text"]
    st = manifest["tokenizer"]["special_tokens"]
    return BlipConfig(
        vision=VisionConfig(image_size=v["image_size"], patch_size=v["patch_size"], width=v["width"], depth=v["depth"],
                            heads=v["heads"], layer_norm_eps=v.get("layer_norm_eps", 1e-6)),
        text=TextConfig(vocab_size=t["vocab_size"], hidden_size=t["hidden"], num_hidden_layers=t["layers"],
                        num_attention_heads=t["heads"], intermediate_size=t["intermediate"],
                        max_position_embeddings=t["max_position"], encoder_width=v["width"]),
        embed_dim=a.get("embed_dim", 256),
        special_tokens=SpecialTokens(**{k: st[k] for k in ("pad", "unk", "cls", "sep", "mask", "dec", "enc")}),
    )


def _digest(a: np.ndarray) -> str:
    return hashlib.sha1(f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes()).hexdigest()


def _read_initializer(t: onnx.TensorProto, model_dir: Path, files: dict) -> np.ndarray:
    if t.data_location != onnx.TensorProto.EXTERNAL:
        return numpy_helper.to_array(t)
    ext = {e.key: e.value for e in t.external_data}
    path = model_dir / ext["location"]
    if path not in files:
        files[path] = np.memmap(path, dtype=np.uint8, mode="r")
    off, length = int(ext.get("offset", 0)), int(ext["length"])
    dtype = onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[t.data_type].newbyteorder("<")
    raw = np.array(files[path][off : off + length])
    if len(raw) != length:
        raise WeightMapError(f"{t.name}: {path.name} ends before offset {off} + {length}")
    return raw.view(dtype).reshape(tuple(t.dims))


def _initializers_and_ops(model: onnx.ModelProto) -> tuple[dict[str, onnx.TensorProto], list[str]]:
    """Initializers by the name the graph uses them under, and the op types of the other nodes.
    torch.onnx.export stores parameters of equal value once (e.g. all the zero biases and unit
    LayerNorm weights of a freshly initialised model) and names the others by Identity nodes."""
    inits = {t.name: t for t in model.graph.initializer}
    ops = []
    for n in model.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
        else:
            ops.append(n.op_type)
    return inits, ops


def build_models(manifest: dict, cfg: BlipConfig) -> dict[str, nn.Module]:
    """One module per task family the manifest serves, sharing one ViT (the `vision` graph)."""
    classes = {}
    for task in manifest["tasks"]:
        if task in TASK_MODELS:
            kind, cls = TASK_MODELS[task]
            classes[kind] = cls
    order = [k for k in ("caption", "itm", "vqa") if k in classes]
    models = {k: classes[k](cfg) for k in order}
    first = models[order[0]]
    for m in models.values():
        m.visual_encoder = first.visual_encoder
        m.eval()
    return models


def load_model_dir(model_dir: str | Path, log=print) -> tuple[dict[str, nn.Module], BlipConfig, dict]:
    """The task models of `model_dir` holding its ONNX weights; returns (models, config, report)."""
    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    cfg = config_from_manifest(manifest)
    torch.manual_seed(0)
    models = build_models(manifest, cfg)

    # Probe values: every distinct parameter tensor gets distinct random values.
    params: dict[int, tuple[nn.Parameter, list[str]]] = {}
    for kind, m in models.items():
        for mod_name, mod in m.named_modules(remove_duplicate=False):
            for name, p in mod._parameters.items():
                if p is not None:
                    params.setdefault(id(p), (p, []))[1].append(f"{kind}.{mod_name + '.' if mod_name else ''}{name}")
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p, _ in params.values():
            p.copy_(torch.randn(p.shape, generator=g))
    by_content: dict[str, tuple[int, bool]] = {}
    for pid, (p, names) in params.items():
        a = p.detach().numpy()
        by_content[_digest(a)] = (pid, False)
        if a.ndim == 2:
            by_content[_digest(a.T)] = (pid, True)

    forms = {decoder_form([i["name"] for i in g["inputs"]]) for n, g in manifest["graphs"].items() if n.endswith("_decoder")}
    if len(forms) > 1:
        raise WeightMapError(f"the decoder graphs mix forms {sorted(forms)}")
    form = forms.pop() if forms else "grouped"
    specs = {s["name"]: s for s in graph_specs(models, cfg, torch.Generator().manual_seed(0), form)}
    t0 = time.perf_counter()
    # Pass 1: trace every graph with the probe values; keep what each initializer is.
    traced: dict[str, tuple[list[str], dict]] = {}
    for graph_name in manifest["graphs"]:
        if graph_name not in specs:
            raise WeightMapError(f"graph {graph_name} is not one export_onnx.py writes for these tasks")
        probe_inits, ops = _initializers_and_ops(trace_graph(specs[graph_name]))
        kinds = {}
        for name, t in probe_inits.items():
            pa = numpy_helper.to_array(t)
            hit = by_content.get(_digest(pa))
            # a parameter (id, transposed) or a constant (shape, scale, position ids) kept to compare
            kinds[name] = (pa.shape, pa.dtype, hit, None if hit else pa)
        traced[graph_name] = (ops, kinds)
        del probe_inits
    # Pass 2: the file's initializer of each name gives its parameter the value.
    assigned: dict[int, tuple[str, str]] = {}
    files: dict = {}
    constants = 0
    with torch.no_grad():
        for graph_name, info in manifest["graphs"].items():
            ops_probe, kinds = traced[graph_name]
            real_inits, ops_real = _initializers_and_ops(onnx.load(str(model_dir / info["file"]), load_external_data=False))
            if ops_probe != ops_real:
                counts = {op: (ops_real.count(op), ops_probe.count(op)) for op in sorted(set(ops_real) | set(ops_probe))
                          if ops_real.count(op) != ops_probe.count(op)}
                raise WeightMapError(f"{graph_name}: the file's graph ({len(ops_real)} nodes) is not what this code traces "
                                     f"({len(ops_probe)} nodes; op counts file/trace {counts}): exported by another torch or exporter version?")
            if set(kinds) != set(real_inits):
                diff = sorted(set(kinds) ^ set(real_inits))
                raise WeightMapError(f"{graph_name}: initializer names differ from the trace's, e.g. {diff[:3]}")
            for name, (shape, dtype, hit, constant) in kinds.items():
                ra = _read_initializer(real_inits[name], model_dir, files)
                if ra.shape != shape or ra.dtype != dtype:
                    raise WeightMapError(f"{graph_name}:{name}: file has {ra.dtype}{list(ra.shape)}, trace {dtype}{list(shape)}")
                if hit is None:
                    if not np.array_equal(constant, ra):
                        raise WeightMapError(f"{graph_name}:{name} is neither a parameter nor equal to the traced constant")
                    constants += 1
                    continue
                pid, transposed = hit
                val = np.ascontiguousarray(ra.T if transposed else ra)
                d = _digest(val)
                if pid in assigned:
                    if assigned[pid][0] != d:
                        raise WeightMapError(f"{params[pid][1][0]} gets different values from {assigned[pid][1]} and {graph_name}:{name}")
                    continue
                p = params[pid][0]
                p.copy_(torch.from_numpy(val).reshape(p.shape))
                assigned[pid] = (d, f"{graph_name}:{name}")
    missing = [names for pid, (_, names) in params.items() if pid not in assigned]
    if missing:
        raise WeightMapError(f"{len(missing)} parameter tensor(s) are in no graph, first: {missing[0]}")
    # As strict as load_state_dict(strict=True): every parameter of every model got a value of its
    # shape (above); buffers (BERT position_ids) are not learnt and the graphs hold them as constants.
    report = {"model": manifest["version"], "tensors": len(assigned), "names": sum(len(params[p][1]) for p in assigned),
              "constants": constants, "graphs": len(manifest["graphs"]), "seconds": round(time.perf_counter() - t0, 1)}
    log(f"loaded {model_dir}: {report['tensors']} parameter tensors ({report['names']} names, shared ones counted per model) "
        f"from {report['graphs']} graphs, {constants} constants checked, {report['seconds']} s")
    return models, cfg, manifest


def load_reference(model_dir: str | Path, recompute_cross: bool = False, log=print):
    """A BlipReference (pipeline.py) on a model directory's own weights."""
    from .pipeline import BlipReference
    from .tokenizer import BertTokenizer
    models, cfg, _ = load_model_dir(model_dir, log)
    tok = BertTokenizer.from_file(Path(model_dir) / "vocab.txt")
    return BlipReference(models, cfg, tok, recompute_cross)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path)
    a = p.parse_args()
    torch.set_num_threads(2)
    load_model_dir(a.model_dir)


if __name__ == "__main__":
    main()
