"""A drafter that computes only its hot vocabulary's output rows (VocabTrim, FR-Spec).

The input embedding stays whole, since accepted tokens may be any target token; the head keeps the rows of
`draft_vocab.safetensors` and returns full-size logits with −inf elsewhere, so transformers' assisted generation
uses it as `assistant_model=` unchanged, and the target still verifies against its whole vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import TokswapError
from ..loading import LanguageModel, load_language_model
from ..specs import Spec, resolve
from .draft_vocab_file import DraftVocab, read_draft_vocab


class HotHead(torch.nn.Module):
    def __init__(self, head: torch.nn.Linear, vocab: DraftVocab):
        super().__init__()
        self.register_buffer("target_ids", vocab.target_ids.to(head.weight.device))
        self.weight = torch.nn.Parameter(head.weight.detach()[vocab.target_ids].clone(), requires_grad=False)
        self.bias = None if head.bias is None else torch.nn.Parameter(head.bias.detach()[vocab.target_ids].clone(), requires_grad=False)
        self.vocab_size = vocab.target_size

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = hidden.new_full((*hidden.shape[:-1], self.vocab_size), float("-inf"))
        logits[..., self.target_ids] = torch.nn.functional.linear(hidden, self.weight, self.bias)
        return logits


def with_hot_head(model: torch.nn.Module, vocab: DraftVocab) -> torch.nn.Module:
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear) or head.weight.shape[0] != vocab.target_size:
        rows = getattr(head, "weight", torch.empty(0)).shape[0]
        raise TokswapError(f"the draft vocabulary covers {vocab.target_size:,} target ids but the model's output head has {rows:,} rows")
    model.set_output_embeddings(HotHead(head, vocab))
    return model


def load_drafter(spec: str | Spec) -> LanguageModel:
    """A model to draft with: with its hot head when its folder holds a draft vocabulary, else as it is."""
    spec = spec if isinstance(spec, Spec) else resolve(spec)
    lm = load_language_model(spec)
    vocab = read_draft_vocab(Path(spec.path)) if spec.kind == "folder" else None
    return lm if vocab is None else LanguageModel(lm.spec, with_hot_head(lm.module, vocab), lm.tokenizer)


def hot_rows(model: torch.nn.Module) -> int | None:
    """The number of output rows a drafter computes when it has a hot head."""
    head = model.get_output_embeddings()
    return len(head.target_ids) if isinstance(head, HotHead) else None
