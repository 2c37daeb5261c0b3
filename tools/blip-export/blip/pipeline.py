"""The PyTorch reference for every task the runtime serves, on the same weights as the export:
evaluation, parity fixtures and benchmarks call this."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .blip import BLIP_ITM, BLIP_VQA, BLIP_Decoder
from .config import BlipConfig
from .export_onnx import load_models, special_from_vocab
from .generate import DecoderSession, beam_search, greedy, rank_answers, sample
from .image import preprocess
from .text import pre_caption, pre_question
from .tokenizer import BertTokenizer


class BlipReference:
    def __init__(self, models: dict, cfg: BlipConfig, tokenizer: BertTokenizer, recompute_cross: bool = False,
                 grouped_cross: bool = False):
        self.models = models
        self.cfg = cfg
        self.tok = tokenizer
        self.st = cfg.special_tokens
        self.recompute_cross = recompute_cross
        self.grouped_cross = grouped_cross  # generate.py DecoderSession: K/V not gathered per row
        for m in models.values():
            m.eval()

    @staticmethod
    def from_checkpoints(paths: list[Path], vocab: Path, recompute_cross: bool = False) -> "BlipReference":
        tok = BertTokenizer.from_file(vocab)
        models, cfg = load_models(paths, len(tok.vocab), special_from_vocab(tok.vocab), None)
        return BlipReference(models, cfg, tok, recompute_cross)

    # ------------------------------------------------------------ helpers

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        return torch.from_numpy(np.stack([preprocess(im, self.cfg.vision.image_size) for im in images]))

    def encode(self, texts: list[str], first: int, max_length: int = 35) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tok.batch(texts, first, self.st.sep, self.st.pad, max_length)

    def decode(self, tokens: list[int]) -> str:
        specials = {self.st.pad, self.st.cls, self.st.sep, self.st.mask, self.st.dec, self.st.enc, self.st.unk}
        return self.tok.decode(tokens, skip=specials)

    def prompt_ids(self, prompt: str) -> list[int]:
        return [self.st.dec] + self.tok.tokenize(prompt)

    # ------------------------------------------------------------ caption

    @torch.no_grad()
    def caption(self, pixels: torch.Tensor, mode: str = "beam", prompt: str = "a picture of ", num_beams: int = 3,
                max_length: int = 20, min_length: int = 5, repetition_penalty: float = 1.0, num_captions: int = 1,
                uniforms: Optional[Callable[[int], list[float]]] = None, top_p: float = 0.9, top_k: int = 50,
                temperature: float = 1.0) -> list[list[dict]]:
        m: BLIP_Decoder = self.models["caption"]
        image_embeds = m.visual_encoder(pixels)
        session = DecoderSession(m.text_decoder, image_embeds, recompute_cross=self.recompute_cross, grouped_cross=self.grouped_cross)
        prompt_ids = self.prompt_ids(prompt) if prompt else [self.st.dec]
        B = pixels.shape[0]
        if mode == "beam":
            res = beam_search(session, prompt_ids, B, num_beams, max_length, min_length, self.st.sep, repetition_penalty,
                              num_return=num_captions)
        elif mode == "greedy":
            res = [[g] for g in greedy(session, prompt_ids, B, max_length, min_length, self.st.sep, repetition_penalty)]
        elif mode == "nucleus":
            flat = sample(session, prompt_ids, torch.arange(B).repeat_interleave(num_captions), max_length, min_length, self.st.sep,
                          uniforms, repetition_penalty, top_k, top_p, temperature)
            res = [flat[i * num_captions : (i + 1) * num_captions] for i in range(B)]
        else:
            raise ValueError(mode)
        return [[{"tokens": g.tokens, "text": self.decode(g.tokens), "score": g.score} for g in gens] for gens in res]

    # ------------------------------------------------------------ VQA

    @torch.no_grad()
    def question_states(self, pixels: torch.Tensor, questions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        m: BLIP_VQA = self.models["vqa"]
        image_embeds = m.visual_encoder(pixels)
        ids, mask = self.encode([pre_question(q) for q in questions], self.st.enc)
        return m.question_states(ids, mask, image_embeds), mask

    @torch.no_grad()
    def answer_generate(self, pixels: torch.Tensor, questions: list[str], num_beams: int = 3, max_length: int = 10,
                        min_length: int = 1) -> list[dict]:
        m: BLIP_VQA = self.models["vqa"]
        states, mask = self.question_states(pixels, questions)
        session = DecoderSession(m.text_decoder, states, mask, recompute_cross=self.recompute_cross, grouped_cross=self.grouped_cross)
        res = beam_search(session, [self.st.dec], len(questions), num_beams, max_length, min_length, self.st.sep)
        return [{"tokens": r[0].tokens, "answer": self.decode(r[0].tokens), "score": r[0].score} for r in res]

    @torch.no_grad()
    def answer_rank(self, pixels: torch.Tensor, questions: list[str], candidates: list[str], k: int = 128) -> list[list[dict]]:
        m: BLIP_VQA = self.models["vqa"]
        states, mask = self.question_states(pixels, questions)
        a_ids, a_mask = self.encode(candidates, self.st.dec)
        ranked = rank_answers(m.text_decoder, states, mask, a_ids, a_mask, k, self.st.pad)
        return [[{"answer": candidates[i], "score": s} for i, s in r] for r in ranked]

    # ------------------------------------------------------------ ITM / ITC

    @torch.no_grad()
    def image_embeds(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m: BLIP_ITM = self.models["itm"]
        emb = m.visual_encoder(pixels)
        return emb, m.image_itc(emb)

    @torch.no_grad()
    def text_embeds(self, texts: list[str]) -> torch.Tensor:
        m: BLIP_ITM = self.models["itm"]
        ids, mask = self.encode([pre_caption(t) for t in texts], self.st.cls)
        return m.text_itc(ids, mask)

    @torch.no_grad()
    def match(self, pixels: torch.Tensor, texts: list[str], first: str = "enc") -> list[dict]:
        """ITM match probability and ITC cosine of pairs (image i, text i)."""
        m: BLIP_ITM = self.models["itm"]
        emb, img_feat = self.image_embeds(pixels)
        ids, mask = self.encode([pre_caption(t) for t in texts], self.st.enc if first == "enc" else self.st.cls)
        probs = F.softmax(m.itm_logits(ids, mask, emb), dim=1)[:, 1]
        cos = (img_feat * self.text_embeds(texts)).sum(-1)
        return [{"itm": float(p), "itc": float(c)} for p, c in zip(probs, cos)]


def load_reference(model_dir_or_run: Path, vocab: Path | None = None) -> BlipReference:
    run = Path(model_dir_or_run)
    paths = sorted(run.glob("model_*.pth"))
    return BlipReference.from_checkpoints(paths, vocab or run / "vocab.txt")

