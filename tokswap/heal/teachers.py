"""The two teachers and what each gives a step, computed once per step's text and kept in the cache's bounded
store `heal-teacher` (`--teacher-cache-gb`): a run resumed, or another run on the same data and seed
(`--train` modes compared), reads them back.

- `SourceTeacher`: the model a transplant came from, reading the text through its own tokenizer; it gives
  each of its tokens' log-likelihood, for likelihood matching on shared byte boundaries (`chunks`).
- `ModelTeacher`: a model with the student's vocabulary; it gives the top-k of its next-token distribution
  at every position, and the rest as one mass.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
import torch.nn.functional as F

from ..byte_vocab import byte_vocab
from ..cache import stored_tensors
from ..checkpoint import frozen, load_causal_lm
from ..specs import Spec
from ..tokenizer_io import bos_prefix, load_tokenizer
from .batches import sequences
from .chunks import text_ends


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class Teacher:
    """A frozen model with its tokenizer; `outputs` caches what `compute` gives for one step's windows."""

    kind = ""

    def __init__(self, spec: Spec, device: torch.device, cache_bytes: int, tokenizer=None):
        self.spec = spec
        self.cache_bytes = cache_bytes
        self.tokenizer = tokenizer or load_tokenizer(spec)
        self.prefix = bos_prefix(self.tokenizer)
        self.model = frozen(load_causal_lm(spec), device)
        self.device = device

    def outputs(self, key: str, windows: list[str], student_ids: list[list[int]]) -> dict[str, torch.Tensor]:
        what = "heal's teacher outputs, one file a step; the least recently used go past --teacher-cache-gb"
        return stored_tensors("heal-teacher", fingerprint(self.kind, self.spec.text, key), what, self.cache_bytes, lambda: self.compute(windows, student_ids))

    @torch.no_grad()
    def _log_softmax(self, ids: list[list[int]]):
        seqs = sequences(self.prefix, ids)
        return seqs, F.log_softmax(self.model(seqs.inputs.to(self.device)).logits.float(), dim=-1)

    def compute(self, windows: list[str], student_ids: list[list[int]]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class SourceTeacher(Teacher):
    kind = "source"

    def __init__(self, spec: Spec, device: torch.device, cache_bytes: int):
        super().__init__(spec, device, cache_bytes)
        self.vocab = byte_vocab(self.tokenizer)

    def tokens(self, window: str, covered: int) -> list[int]:
        """The teacher's tokens of `window` that end within the first `covered` bytes ([] when its tokens do
        not spell the text)."""
        ids = self.tokenizer(window, add_special_tokens=False).input_ids
        ends = text_ends(self.vocab.token_bytes, ids, window.encode("utf-8"))
        return [] if ends is None else ids[: int(np.searchsorted(ends, covered, side="right"))]

    def compute(self, windows: list[str], covered: list[int]) -> dict[str, torch.Tensor]:
        ids = [self.tokens(window, n) for window, n in zip(windows, covered)]
        seqs, log_probs = self._log_softmax(ids)
        nxt, _ = seqs.targets()
        picked = log_probs[:, :-1].gather(-1, nxt.to(self.device).unsqueeze(-1)).squeeze(-1).cpu()
        out = {}
        for i, row in enumerate(ids):
            out[f"ids{i}"] = torch.tensor(row, dtype=torch.int32)
            out[f"logp{i}"] = seqs.per_token(picked, i)
        return out


class ModelTeacher(Teacher):
    kind = "model"

    def __init__(self, spec: Spec, device: torch.device, cache_bytes: int, tokenizer, top_k: int):
        super().__init__(spec, device, cache_bytes, tokenizer)
        self.top_k = top_k

    def compute(self, windows: list[str], student_ids: list[list[int]]) -> dict[str, torch.Tensor]:
        _, log_probs = self._log_softmax(student_ids)
        top = log_probs[:, :-1].topk(self.top_k, dim=-1)
        rest = torch.log1p(-top.values.exp().sum(-1).clamp(max=1 - 1e-6))
        return {"ids": top.indices.to(torch.int32).cpu(), "logp": top.values.cpu(), "rest": rest.cpu()}
