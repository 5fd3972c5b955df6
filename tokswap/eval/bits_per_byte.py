"""Bits per byte: tokenizer-independent language-modelling loss, so models on different vocabularies compare."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..tokenizer_io import bos_prefix


@dataclass(frozen=True)
class TextScore:
    nll_bits: float
    tokens: int
    bytes: int

    @property
    def bits_per_byte(self) -> float:
        return self.nll_bits / self.bytes

    @property
    def token_perplexity(self) -> float:
        return 2 ** (self.nll_bits / self.tokens)

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens


def windows(n_tokens: int, prefix: int, size: int) -> list[tuple[int, int]]:
    """Spans of the (prefix + text) sequence to run; each predicts the text tokens [start + 1, end) exactly once."""
    spans = []
    first_target = prefix if prefix else 1
    total = prefix + n_tokens
    while first_target < total:
        end = min(total, first_target + size - 1)
        spans.append((first_target - 1, end))
        first_target = end
    return spans


@torch.no_grad()
def score_text(model, tokenizer, text: str, window: int | None = None, progress: bool = False) -> TextScore:
    """Total negative log-likelihood of `text` in bits, predicting every text token once (the first only after a BOS)."""
    prefix = bos_prefix(tokenizer)
    ids = prefix + tokenizer(text, add_special_tokens=False).input_ids
    size = window or min(getattr(model.config.get_text_config(), "max_position_embeddings", 2048), 2048)
    spans = windows(len(ids) - len(prefix), len(prefix), size)
    device = next(model.parameters()).device
    total = 0.0
    for start, end in tqdm(spans, desc="windows", disable=not progress):
        chunk = torch.tensor([ids[start:end]], device=device)
        logits = model(chunk).logits[0, :-1].float()
        total += F.cross_entropy(logits, chunk[0, 1:], reduction="sum").item()
    predicted = sum(end - start - 1 for start, end in spans)
    return TextScore(total / math.log(2), predicted, len(text.encode("utf-8")))
