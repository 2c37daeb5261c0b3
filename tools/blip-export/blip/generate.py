"""Reference text generation for BLIP in PyTorch, with HuggingFace transformers 4.x semantics
(what BLIP's `generate` calls): greedy, beam search and nucleus sampling, plus VQA answer ranking.

Small logits processors, search strategies apart from the model: a strategy only sees a
`DecoderSession` that turns new tokens into next-token logits. The session keeps the
self-attention K/V cache and computes the cross-attention K/V once per image; with
`recompute_cross=True` it recomputes them at every step, as the original BLIP code does (kept for
the benchmark's second PyTorch figure). With `grouped_cross=True`, rows that are image-major with
the same number of rows per image (beams, captions per image) attend to their image's K/V without
gathering a copy per row (med.py `cross_grouped`); other row layouts fall back to the gather.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .med import BertLMHeadModel

# ---------------------------------------------------------------- logits processors (HF 4.x)


def repetition_penalty(ids: torch.Tensor, scores: torch.Tensor, penalty: float) -> torch.Tensor:
    """Every id already in the row: s·p if s < 0 else s/p (HF RepetitionPenaltyLogitsProcessor)."""
    if penalty == 1.0:
        return scores
    s = torch.gather(scores, 1, ids)
    s = torch.where(s < 0, s * penalty, s / penalty)
    return scores.scatter(1, ids, s)


def min_length(scores: torch.Tensor, cur_len: int, minimum: int, eos: int) -> torch.Tensor:
    if cur_len < minimum:
        scores = scores.clone()
        scores[:, eos] = -float("inf")
    return scores


def temperature(scores: torch.Tensor, t: float) -> torch.Tensor:
    return scores if t == 1.0 else scores / t


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    if k <= 0:
        return scores
    kth = torch.topk(scores, min(k, scores.shape[-1]))[0][..., -1, None]
    return scores.masked_fill(scores < kth, -float("inf"))


def top_p(scores: torch.Tensor, p: float) -> torch.Tensor:
    if p >= 1.0:
        return scores
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - p)
    remove[..., -1:] = False  # keep at least one token
    return scores.masked_fill(remove.scatter(1, sorted_idx, remove), -float("inf"))


# ---------------------------------------------------------------- the decoder session


class DecoderSession:
    """Runs the image-grounded decoder step by step for rows that map to cross states via `cross_index`."""

    def __init__(self, decoder: BertLMHeadModel, encoder_states: torch.Tensor, encoder_mask: Optional[torch.Tensor] = None,
                 recompute_cross: bool = False, grouped_cross: bool = False):
        self.decoder = decoder
        self.states = encoder_states
        self.enc_mask = encoder_mask if encoder_mask is not None else torch.ones(encoder_states.shape[:2], dtype=torch.long)
        self.recompute = recompute_cross
        self.cross = None if recompute_cross else decoder.bert.cross_kv(encoder_states)
        self.grouped = grouped_cross and not recompute_cross
        self.past = None
        self.mask = None
        self.index = None

    def start(self, cross_index: torch.Tensor) -> None:
        self.past, self.mask, self.index = None, None, cross_index

    def step(self, new_ids: torch.Tensor) -> torch.Tensor:
        """Feed [R, t] new tokens, return [R, t, V] logits."""
        new_mask = torch.ones_like(new_ids)
        self.mask = new_mask if self.mask is None else torch.cat((self.mask, new_mask), 1)
        if self.recompute:  # original BLIP: image states repeated per row, K/V projected again each step
            states = self.states.index_select(0, self.index)
            logits, self.past = self.decoder(new_ids, self.mask, encoder_hidden_states=states,
                                             encoder_attention_mask=self.enc_mask.index_select(0, self.index), past_key_values=self.past)
        elif self.grouped and self._is_grouped():
            logits, self.past = self.decoder(new_ids, self.mask, encoder_attention_mask=self.enc_mask, past_key_values=self.past,
                                             cross_key_values=self.cross, cross_grouped=True)
        else:
            logits, self.past = self.decoder(new_ids, self.mask, encoder_attention_mask=self.enc_mask, past_key_values=self.past,
                                             cross_key_values=self.cross, cross_index=self.index)
        return logits

    def _is_grouped(self) -> bool:
        """Rows image-major over all C images, G rows each: row r reads image r // G."""
        C, R = self.states.shape[0], self.index.shape[0]
        return R % C == 0 and bool(torch.equal(self.index, torch.arange(C).repeat_interleave(R // C)))

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep only / reorder rows (beams) of the cache."""
        self.past = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.past]
        self.mask = self.mask.index_select(0, rows)
        self.index = self.index.index_select(0, rows)


@dataclass
class Generated:
    tokens: list[int]       # generated ids after the prompt (eos excluded)
    score: float            # beam: length-normalised sum of log-probs; greedy/sample: sum of log-probs


# ---------------------------------------------------------------- search strategies


def greedy(session: DecoderSession, prompt: list[int], num_images: int, max_length: int, min_len: int, eos: int,
           rep_penalty: float = 1.0) -> list[Generated]:
    return _sample_or_greedy(session, prompt, torch.arange(num_images), max_length, min_len, eos, rep_penalty, None)


def sample(session: DecoderSession, prompt: list[int], cross_index: torch.Tensor, max_length: int, min_len: int, eos: int,
           uniforms: Callable[[int], list[float]], rep_penalty: float = 1.1, top_k_: int = 50, top_p_: float = 0.9,
           temp: float = 1.0) -> list[Generated]:
    """Nucleus sampling. `uniforms(rows)` gives one U[0,1) number per row per step; the token is drawn
    by inverse CDF over the warped distribution in ascending token-id order (float64), so any
    runtime fed the same numbers draws the same tokens."""
    warp = lambda s: top_p(top_k(temperature(s, temp), top_k_), top_p_)  # noqa: E731  HF order: temperature → top-k → top-p
    return _sample_or_greedy(session, prompt, cross_index, max_length, min_len, eos, rep_penalty, (warp, uniforms))


def _sample_or_greedy(session, prompt, cross_index, max_length, min_len, eos, rep_penalty, sampling) -> list[Generated]:
    rows = cross_index.shape[0]
    ids = torch.tensor([prompt] * rows, dtype=torch.long)
    session.start(cross_index)
    logits = session.step(ids)[:, -1]
    done = torch.zeros(rows, dtype=torch.bool)
    out = [[] for _ in range(rows)]
    scores = [0.0] * rows
    while True:
        cur_len = ids.shape[1]
        s = min_length(repetition_penalty(ids, logits, rep_penalty), cur_len, min_len, eos)
        logp = F.log_softmax(logits, dim=-1)
        if sampling is None:
            nxt = s.argmax(-1)
        else:
            warp, uniforms = sampling
            probs = F.softmax(warp(s).double(), dim=-1)
            u = torch.tensor(uniforms(rows), dtype=torch.float64)
            cdf = probs.cumsum(-1)
            nxt = torch.searchsorted(cdf, u[:, None], right=True).squeeze(1).clamp(max=probs.shape[1] - 1)
        for r in range(rows):
            if not done[r]:
                t = int(nxt[r])
                scores[r] += float(logp[r, t])
                if t == eos:
                    done[r] = True
                else:
                    out[r].append(t)
        ids = torch.cat((ids, nxt[:, None]), 1)
        if bool(done.all()) or ids.shape[1] >= max_length:
            break
        logits = session.step(nxt[:, None])[:, -1]
    return [Generated(o, sc) for o, sc in zip(out, scores)]


class _Hypotheses:
    """HF BeamHypotheses: the n best finished sequences of one input, length-normalised."""

    def __init__(self, n: int, length_penalty: float):
        self.n, self.lp, self.items, self.worst = n, length_penalty, [], 1e9

    def add(self, seq: list[int], sum_logprobs: float) -> None:
        score = sum_logprobs / (len(seq) ** self.lp)
        if len(self.items) < self.n or score > self.worst:
            self.items.append((score, seq))
            if len(self.items) > self.n:
                self.items.sort(key=lambda x: x[0])
                self.items.pop(0)
                self.worst = self.items[0][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs: float, cur_len: int) -> bool:
        return len(self.items) >= self.n and self.worst >= best_sum_logprobs / cur_len ** self.lp


def beam_search(session: DecoderSession, prompt: list[int], num_images: int, num_beams: int, max_length: int, min_len: int,
                eos: int, rep_penalty: float = 1.0, length_penalty: float = 1.0, num_return: int = 1) -> list[list[Generated]]:
    """HF 4.x beam search (early_stopping=False): log-softmax, processors, add beam scores, top 2·beams,
    hypothesis score = Σ log p / length^lp where the length counts the prompt."""
    nb, B = num_beams, num_images
    ids = torch.tensor([prompt] * (B * nb), dtype=torch.long)
    session.start(torch.arange(B).repeat_interleave(nb))
    beam_scores = torch.zeros(B, nb)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    hyps = [_Hypotheses(nb, length_penalty) for _ in range(B)]
    done = [False] * B
    logits = session.step(ids)[:, -1]
    while True:
        cur_len = ids.shape[1]
        scores = F.log_softmax(logits, dim=-1)
        scores = min_length(repetition_penalty(ids, scores, rep_penalty), cur_len, min_len, eos)
        scores = scores + beam_scores[:, None]
        V = scores.shape[-1]
        top_scores, top_tokens = torch.topk(scores.view(B, nb * V), 2 * nb, dim=1, largest=True, sorted=True)
        next_scores = torch.zeros(B, nb)
        next_tokens = torch.zeros(B, nb, dtype=torch.long)
        next_rows = torch.zeros(B, nb, dtype=torch.long)
        for b in range(B):
            if done[b]:
                next_tokens[b] = 0  # pad
                next_rows[b] = b * nb
                continue
            k = 0
            for rank in range(2 * nb):
                tok = int(top_tokens[b, rank]) % V
                row = b * nb + int(top_tokens[b, rank]) // V
                sc = float(top_scores[b, rank])
                if tok == eos:
                    if rank >= nb:
                        continue
                    hyps[b].add(ids[row].tolist(), sc)
                else:
                    next_scores[b, k], next_tokens[b, k], next_rows[b, k] = sc, tok, row
                    k += 1
                if k == nb:
                    break
            done[b] = done[b] or hyps[b].is_done(float(top_scores[b].max()), cur_len)
        beam_scores = next_scores.view(-1)
        rows = next_rows.view(-1)
        ids = torch.cat((ids.index_select(0, rows), next_tokens.view(-1, 1)), 1)
        if all(done) or ids.shape[1] >= max_length:
            break
        session.reorder(rows)
        logits = session.step(next_tokens.view(-1, 1))[:, -1]
    results = []
    for b in range(B):
        if not done[b]:
            for j in range(nb):
                hyps[b].add(ids[b * nb + j].tolist(), float(beam_scores[b * nb + j]))
        best = sorted(hyps[b].items, key=lambda x: x[0], reverse=True)[:num_return]
        results.append([Generated(seq[len(prompt):], sc) for sc, seq in best])
    return results


# ---------------------------------------------------------------- VQA answer ranking


def rank_answers(decoder: BertLMHeadModel, question_states: torch.Tensor, question_mask: torch.Tensor,
                 answer_ids: torch.Tensor, answer_mask: torch.Tensor, k: int, pad: int) -> list[list[tuple[int, float]]]:
    """BLIP blip_vqa.py rank_answer: the first decoder step picks the top-k candidates by first-token
    probability, each is teacher-forced and scored by -Σ label-smoothed CE (0.1); returns, per
    question, (candidate index, score) best first."""
    Q = question_states.shape[0]
    k = min(k, answer_ids.shape[0])
    start = answer_ids[:1, :1].repeat(Q, 1)
    logits, _ = decoder(start, torch.ones_like(start), encoder_hidden_states=question_states, encoder_attention_mask=question_mask)
    first_probs = F.softmax(logits[:, 0, :], dim=1).index_select(1, answer_ids[:, 1])
    _, topk_ids = first_probs.topk(k, dim=1)
    ids = answer_ids.index_select(0, topk_ids.reshape(-1))
    mask = answer_mask.index_select(0, topk_ids.reshape(-1))
    states = question_states.repeat_interleave(k, 0)
    qmask = question_mask.repeat_interleave(k, 0)
    logits, _ = decoder(ids, mask, encoder_hidden_states=states, encoder_attention_mask=qmask)
    targets = ids.masked_fill(ids == pad, -100)[:, 1:]
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
                         reduction="none", label_smoothing=0.1)
    scores = (-ce.view(ids.shape[0], -1).sum(1)).view(Q, k)
    out = []
    for q in range(Q):
        order = scores[q].argsort(descending=True)
        out.append([(int(topk_ids[q, j]), float(scores[q, j])) for j in order])
    return out
