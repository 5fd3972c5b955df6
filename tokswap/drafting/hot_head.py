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
    """`softcap` is the model's final logit soft-capping (Gemma), done here on the hot rows only: the model's own
    tanh would turn the −inf of every other row into −cap, a probability no longer zero."""

    def __init__(self, head: torch.nn.Linear, vocab: DraftVocab, softcap: float | None = None):
        super().__init__()
        self.register_buffer("target_ids", vocab.target_ids.to(head.weight.device))
        self.weight = torch.nn.Parameter(head.weight.detach()[vocab.target_ids].clone(), requires_grad=False)
        self.bias = None if head.bias is None else torch.nn.Parameter(head.bias.detach()[vocab.target_ids].clone(), requires_grad=False)
        self.vocab_size = vocab.target_size
        self.softcap = softcap

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = hidden.new_full((*hidden.shape[:-1], self.vocab_size), float("-inf"))
        hot = torch.nn.functional.linear(hidden, self.weight, self.bias)
        logits[..., self.target_ids] = hot if self.softcap is None else self.softcap * torch.tanh(hot / self.softcap)
        return logits


def with_hot_head(model: torch.nn.Module, vocab: DraftVocab) -> torch.nn.Module:
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear) or head.weight.shape[0] != vocab.target_size:
        rows = getattr(head, "weight", torch.empty(0)).shape[0]
        raise TokswapError(f"the draft vocabulary covers {vocab.target_size:,} target ids but the model's output head has {rows:,} rows")
    config = model.config.get_text_config()
    softcap = getattr(config, "final_logit_softcapping", None)
    if softcap is not None:
        config.final_logit_softcapping = None  # the hot head caps its rows itself
    model.set_output_embeddings(HotHead(head, vocab, softcap))
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
