"""MED, BLIP's multimodal mixture of encoder-decoder (salesforce/BLIP models/med.py).

One BERT whose layers hold self-attention, cross-attention to image tokens and an FFN. It runs as
  - the unimodal text encoder   (mode="text": bidirectional SA, no cross-attention; ITC),
  - the image-grounded encoder  (mode="multimodal": bidirectional SA + cross-attention; ITM, VQA),
  - the image-grounded decoder  (is_decoder=True: causal SA + cross-attention; LM).
Parameter names mirror the original (embeddings, encoder.layer.i.{attention, crossattention,
intermediate, output}, cls.predictions.*) so official checkpoints load with strict=True.

The decoder keeps a self-attention K/V cache; cross-attention K/V of an image can be computed once
(`cross_kv`) and passed to every step instead of being recomputed; several rows (beams) share one
image's K/V, either through `cross_index` (row → image; the K/V are gathered per row at every step)
or, with `cross_grouped=True`, by grouping: rows are image-major, R = C·G, and the G query rows of
an image attend to its K/V in one matrix product (no per-row copy of the K/V).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .config import TextConfig

NEG = -10000.0  # BLIP's additive attention mask value

KV = tuple[torch.Tensor, torch.Tensor]


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        # Persistent in BLIP's med.py, so the official checkpoints carry it.
        self.register_buffer("position_ids", torch.arange(cfg.max_position_embeddings).expand((1, -1)))

    def forward(self, input_ids: torch.Tensor, past_length: int | torch.Tensor = 0) -> torch.Tensor:
        t = input_ids.shape[1]
        positions = self.position_ids[:, past_length : past_length + t]
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(positions))


class BertSelfAttention(nn.Module):
    def __init__(self, cfg: TextConfig, is_cross_attention: bool):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.head_size = cfg.head_size
        kv_width = cfg.encoder_width if is_cross_attention else cfg.hidden_size
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(kv_width, cfg.hidden_size)
        self.value = nn.Linear(kv_width, cfg.hidden_size)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_size).permute(0, 2, 1, 3)

    def project_kv(self, x: torch.Tensor) -> KV:
        return self.split_heads(self.key(x)), self.split_heads(self.value(x))

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                grouped: bool = False) -> torch.Tensor:
        q = self.split_heads(self.query(hidden))  # [R, H, t, dh]
        if grouped:  # rows image-major, R = C·G: the G·t queries of image c attend to key/value c together
            C = key.shape[0]
            R, _, t, _ = q.shape
            q = q.reshape(C, -1, self.heads, t, self.head_size).transpose(1, 2).reshape(C, self.heads, -1, self.head_size)
        scores = q @ key.transpose(-1, -2) / (self.head_size ** 0.5) + bias
        ctx = scores.softmax(dim=-1) @ value
        if grouped:  # [C, H, G·t, dh] → [R, H, t, dh]
            ctx = ctx.reshape(C, self.heads, -1, t, self.head_size).transpose(1, 2).reshape(R, self.heads, t, self.head_size)
        ctx = ctx.permute(0, 2, 1, 3)
        return ctx.reshape(ctx.shape[0], ctx.shape[1], self.heads * self.head_size)


class BertSelfOutput(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, cfg: TextConfig, is_cross_attention: bool = False):
        super().__init__()
        self.self = BertSelfAttention(cfg, is_cross_attention)
        self.output = BertSelfOutput(cfg)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor, kv: KV, grouped: bool = False) -> torch.Tensor:
        return self.output(self.self(hidden, bias, kv[0], kv[1], grouped), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertLayer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.attention = BertAttention(cfg)
        if cfg.add_cross_attention:
            self.crossattention = BertAttention(cfg, is_cross_attention=True)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)

    def forward(
        self,
        hidden: torch.Tensor,
        self_bias: torch.Tensor,
        past: Optional[KV] = None,
        cross_kv: Optional[KV] = None,
        cross_bias: Optional[torch.Tensor] = None,
        cross_grouped: bool = False,
    ) -> tuple[torch.Tensor, KV]:
        k, v = self.attention.self.project_kv(hidden)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        hidden = self.attention(hidden, self_bias, (k, v))
        if cross_kv is not None:
            hidden = self.crossattention(hidden, cross_bias, cross_kv, cross_grouped)
        return self.output(self.intermediate(hidden), hidden), (k, v)


class BertEncoder(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg.num_hidden_layers)])


def padding_bias(mask: torch.Tensor) -> torch.Tensor:
    """[B, T] 1/0 mask → additive [B, 1, 1, T] bias."""
    return (1.0 - mask[:, None, None, :].to(torch.float32)) * NEG


def causal_bias(mask: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """[B, P+t] mask → [B, 1, t, P+t] bias: new token i (position P+i) sees positions ≤ P+i."""
    total = mask.shape[1]
    past = total - new_tokens
    rows = torch.arange(new_tokens, device=mask.device)[:, None] + past
    cols = torch.arange(total, device=mask.device)[None, :]
    allowed = (cols <= rows).to(torch.float32)[None, None] * mask[:, None, None, :].to(torch.float32)
    return (1.0 - allowed) * NEG


class BertModel(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        self.apply(_init_weights)

    def cross_kv(self, encoder_hidden_states: torch.Tensor) -> list[KV]:
        """Cross-attention K/V of every layer for some image (or question) states: computed once."""
        return [layer.crossattention.self.project_kv(encoder_hidden_states) for layer in self.encoder.layer]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        mode: str = "multimodal",
        is_decoder: bool = False,
        past_key_values: Optional[list[KV]] = None,
        cross_key_values: Optional[list[KV]] = None,
        cross_index: Optional[torch.Tensor] = None,
        cross_grouped: bool = False,
    ) -> tuple[torch.Tensor, list[KV]]:
        """cross_index [R]: row r reads cross row cross_index[r]; cross_grouped: rows are image-major,
        R = C·G, row r reads cross row r // G (the K/V are not copied per row)."""
        if cross_grouped and cross_index is not None:
            raise ValueError("cross_index and cross_grouped exclude each other")
        past_length = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        hidden = self.embeddings(input_ids, past_length)
        self_bias = causal_bias(attention_mask, input_ids.shape[1]) if is_decoder else padding_bias(attention_mask)

        multimodal = mode == "multimodal"
        cross_bias = None
        if multimodal:
            if cross_key_values is None:
                if encoder_hidden_states is None:
                    raise ValueError("multimodal mode needs encoder_hidden_states or cross_key_values")
                cross_key_values = self.cross_kv(encoder_hidden_states)
            if encoder_attention_mask is None:
                m = cross_key_values[0][0]
                encoder_attention_mask = torch.ones(m.shape[0], m.shape[2], dtype=torch.long, device=m.device)
            if cross_index is not None:  # several rows (beams, answers) share one image's K/V
                cross_key_values = [(k.index_select(0, cross_index), v.index_select(0, cross_index)) for k, v in cross_key_values]
                encoder_attention_mask = encoder_attention_mask.index_select(0, cross_index)
            cross_bias = padding_bias(encoder_attention_mask)

        presents: list[KV] = []
        for i, layer in enumerate(self.encoder.layer):
            past = None if past_key_values is None else past_key_values[i]
            cross = cross_key_values[i] if multimodal else None
            hidden, present = layer(hidden, self_bias, past, cross, cross_bias, cross_grouped and multimodal)
            presents.append(present)
        return hidden, presents


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.act = nn.GELU()
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias  # tied, as in BERT: both names appear in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictions(x)


class BertLMHeadModel(nn.Module):
    """The image-grounded text decoder: BertModel in decoder mode + LM head tied to the word embeddings."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.bert = BertModel(cfg)
        self.cls = BertOnlyMLMHead(cfg)
        _init_weights(self.cls.predictions.transform.dense)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        past_key_values: Optional[list[KV]] = None,
        cross_key_values: Optional[list[KV]] = None,
        cross_index: Optional[torch.Tensor] = None,
        cross_grouped: bool = False,
    ) -> tuple[torch.Tensor, list[KV]]:
        hidden, presents = self.bert(
            input_ids, attention_mask, encoder_hidden_states, encoder_attention_mask,
            mode="multimodal", is_decoder=True, past_key_values=past_key_values,
            cross_key_values=cross_key_values, cross_index=cross_index, cross_grouped=cross_grouped,
        )
        return self.cls(hidden), presents


def _init_weights(m: nn.Module) -> None:
    # BERT initialisation (initializer_range 0.02)
    if isinstance(m, (nn.Linear, nn.Embedding)):
        m.weight.data.normal_(mean=0.0, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        m.bias.data.zero_()
    if isinstance(m, nn.LayerNorm):
        m.weight.data.fill_(1.0)
        m.bias.data.zero_()
