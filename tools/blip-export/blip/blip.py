"""BLIP task models (salesforce/BLIP models/blip*.py): the same parameter layouts, with the
forward passes the exporter, the reference generation and the trainer need.

| class          | original                           | parameters                                              |
|----------------|------------------------------------|---------------------------------------------------------|
| BLIP_Decoder   | blip.py blip_decoder (captioning)  | visual_encoder, text_decoder                            |
| BLIP_ITM       | blip_itm.py blip_itm               | visual_encoder, text_encoder, vision_proj, text_proj, itm_head |
| BLIP_VQA       | blip_vqa.py blip_vqa               | visual_encoder, text_encoder, text_decoder              |
| BLIP_Retrieval | blip_retrieval.py (with momentum encoders and queues, training-only) |                  |
| BLIP_Pretrain  | blip_pretrain.py without momentum distillation (ITC + ITM + LM, encoder and decoder share all but self-attention) | |
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .config import BlipConfig, TextConfig
from .med import BertLMHeadModel, BertModel
from .vit import VisionTransformer


def grounded(text: TextConfig, encoder_width: int) -> TextConfig:
    """The text config whose cross-attention reads states of `encoder_width` (BLIP sets it to the ViT width)."""
    return dataclasses.replace(text, encoder_width=encoder_width)


class BLIP_Decoder(nn.Module):
    kind = "caption"

    def __init__(self, cfg: BlipConfig):
        super().__init__()
        self.cfg = cfg
        self.visual_encoder = VisionTransformer(cfg.vision)
        self.text_decoder = BertLMHeadModel(grounded(cfg.text, cfg.vision.width))


class BLIP_ITM(nn.Module):
    kind = "itm"

    def __init__(self, cfg: BlipConfig):
        super().__init__()
        self.cfg = cfg
        self.visual_encoder = VisionTransformer(cfg.vision)
        self.text_encoder = BertModel(grounded(cfg.text, cfg.vision.width))
        self.vision_proj = nn.Linear(cfg.vision.width, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text.hidden_size, cfg.embed_dim)
        self.itm_head = nn.Linear(cfg.text.hidden_size, 2)

    def image_itc(self, image_embeds: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_proj(image_embeds[:, 0, :]), dim=-1)

    def text_itc(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.text_encoder(input_ids, attention_mask, mode="text")
        return F.normalize(self.text_proj(hidden[:, 0, :]), dim=-1)

    def itm_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.text_encoder(input_ids, attention_mask, encoder_hidden_states=image_embeds)
        return self.itm_head(hidden[:, 0, :])


class BLIP_Retrieval(BLIP_ITM):
    """Retrieval checkpoints add momentum encoders and feature queues (training state only)."""
    kind = "retrieval"

    def __init__(self, cfg: BlipConfig, queue_size: int = 57600):
        super().__init__(cfg)
        self.visual_encoder_m = VisionTransformer(cfg.vision)
        self.vision_proj_m = nn.Linear(cfg.vision.width, cfg.embed_dim)
        self.text_encoder_m = BertModel(grounded(cfg.text, cfg.vision.width))
        self.text_proj_m = nn.Linear(cfg.text.hidden_size, cfg.embed_dim)
        self.register_buffer("image_queue", torch.zeros(cfg.embed_dim, queue_size))
        self.register_buffer("text_queue", torch.zeros(cfg.embed_dim, queue_size))
        self.register_buffer("idx_queue", torch.full((1, queue_size), -100, dtype=torch.long))
        self.register_buffer("ptr_queue", torch.zeros(1, dtype=torch.long))
        self.temp = nn.Parameter(torch.tensor(0.07))


class BLIP_VQA(nn.Module):
    """Question encoded over the image (first token [ENC]); answer decoded over the question states."""
    kind = "vqa"

    def __init__(self, cfg: BlipConfig):
        super().__init__()
        self.cfg = cfg
        self.visual_encoder = VisionTransformer(cfg.vision)
        self.text_encoder = BertModel(grounded(cfg.text, cfg.vision.width))
        # BLIP's decoder config keeps med_config's encoder_width (= text hidden): it reads question states.
        self.text_decoder = BertLMHeadModel(grounded(cfg.text, cfg.text.hidden_size))

    def question_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.text_encoder(input_ids, attention_mask, encoder_hidden_states=image_embeds)
        return hidden


class BLIP_Pretrain(BLIP_ITM):
    """Pre-training model: ITC + ITM + LM. The decoder shares everything with the encoder except
    self-attention (BLIP's tie_encoder_decoder_weights with skip key '/attention')."""
    kind = "pretrain"

    def __init__(self, cfg: BlipConfig):
        super().__init__(cfg)
        self.text_decoder = BertLMHeadModel(grounded(cfg.text, cfg.vision.width))
        self.temp = nn.Parameter(torch.tensor(0.07))
        tie_encoder_decoder(self.text_encoder, self.text_decoder)


def tie_encoder_decoder(encoder: BertModel, decoder: BertLMHeadModel) -> None:
    dec = decoder.bert
    dec.embeddings = encoder.embeddings
    for enc_layer, dec_layer in zip(encoder.encoder.layer, dec.encoder.layer):
        dec_layer.crossattention = enc_layer.crossattention
        dec_layer.intermediate = enc_layer.intermediate
        dec_layer.output = enc_layer.output
    decoder.cls.predictions.decoder.weight = dec.embeddings.word_embeddings.weight


MODEL_CLASSES = {c.kind: c for c in (BLIP_Decoder, BLIP_ITM, BLIP_Retrieval, BLIP_VQA, BLIP_Pretrain)}
