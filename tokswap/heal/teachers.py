"""The two teachers and what each gives a step, computed once per step's text and kept in the cache's bounded
store `heal-teacher` (`--teacher-cache-gb`): a run resumed, or another run on the same data and seed
(`--train` modes compared), reads them back.

- `SourceTeacher`: the model a transplant came from, reading the text through its own tokenizer; it gives
  each of its tokens' log-likelihood, for likelihood matching on shared byte boundaries (`chunks`), and its
  final hidden state after each token, for matching the student's where both have read the same bytes.
- `ModelTeacher`: a model with the student's vocabulary; it gives the top-k of its next-token distribution
  at every position, and the rest as one mass. Of a window it wrote itself (`--generated`), it read the tail
  while writing it (`Tail`): only the prompt is read again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from ..byte_vocab import byte_vocab
from ..cache import stored_tensors
from ..checkpoint import frozen, load_causal_lm
from ..specs import Spec
from ..tokenizer_io import bos_prefix, load_tokenizer
from .batches import Sequences, sequences
from .chunks import text_ends
from .head_summary import HeadSummary, head_summary


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class TeacherSetup:
    """Where a teacher runs, the dtype its frozen weights are kept in (bfloat16 when the step computes in it:
    no cast on every call), and the bytes of outputs the cache may keep."""

    device: torch.device
    dtype: torch.dtype
    cache_bytes: int


class Teacher:
    """A frozen model with its tokenizer; `outputs` caches what `compute` gives for one step's windows."""

    kind = ""

    def __init__(self, spec: Spec, setup: TeacherSetup, tokenizer=None):
        self.spec = spec
        self.setup = setup
        self.tokenizer = tokenizer or load_tokenizer(spec)
        self.prefix = bos_prefix(self.tokenizer)
        self.model = frozen(load_causal_lm(spec), setup.device).to(setup.dtype)

    def outputs(self, key: str, *step) -> dict[str, torch.Tensor]:
        """What `compute` gives for a step's data (`step`), or its stored copy under `key`."""
        what = "heal's teacher outputs, one file a step; the least recently used go past --teacher-cache-gb"
        return stored_tensors("heal-teacher", fingerprint(self.kind, self.spec.text, key), what, self.setup.cache_bytes, lambda: self.compute(*step))

    @torch.no_grad()
    def _read(self, ids: list[list[int]], top_k: int, picked: bool) -> tuple[Sequences, torch.Tensor, HeadSummary]:
        """The inputs, the final hidden states, and what the head gives at each position: its log normalizer,
        its `top_k` logits, and with `picked` the logit of the next token."""
        seqs = sequences(self.prefix, ids)
        hidden = self.model.base_model(input_ids=seqs.inputs.to(self.setup.device)).last_hidden_state
        chosen = seqs.inputs[:, 1:].to(hidden.device) if picked else None
        return seqs, hidden, head_summary(self.model, hidden[:, :-1], top_k, chosen)

    def compute(self, *step) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class SourceTeacher(Teacher):
    kind = "source"

    def __init__(self, spec: Spec, setup: TeacherSetup):
        super().__init__(spec, setup)
        self.vocab = byte_vocab(self.tokenizer)

    def tokens(self, window: str, covered: int) -> list[int]:
        """The teacher's tokens of `window` that end within the first `covered` bytes ([] when its tokens do
        not spell the text)."""
        ids = self.tokenizer(window, add_special_tokens=False).input_ids
        ends = text_ends(self.vocab.token_bytes, ids, window.encode("utf-8"))
        return [] if ends is None else ids[: int(np.searchsorted(ends, covered, side="right"))]

    def compute(self, windows: list[str], covered: list[int]) -> dict[str, torch.Tensor]:
        """Each window read on its own: its tokenization's length varies with the language (Chinese takes twice
        English's tokens): padded to the longest, the training mix's batches of four were 18% padding."""
        out = {}
        for i, (window, n) in enumerate(zip(windows, covered)):
            row = self.tokens(window, n)
            seqs, hidden, head = self._read([row], 0, picked=True)
            out[f"ids{i}"] = torch.tensor(row, dtype=torch.int32)
            out[f"logp{i}"] = seqs.per_token((head.picked - head.normalizer).cpu(), 0)
            out[f"hidden{i}"] = seqs.after_token(hidden, 0).to(torch.bfloat16).cpu()
        return out


@dataclass(frozen=True)
class Tail:
    """The teacher's outputs for a window's tokens from `start` on, read while it wrote them: per token, the
    ids and log-probabilities of its top-k at the position that predicts it, and the rest as one mass."""

    start: int
    ids: torch.Tensor
    logp: torch.Tensor
    rest: torch.Tensor


class ModelTeacher(Teacher):
    kind = "model"

    def __init__(self, spec: Spec, setup: TeacherSetup, tokenizer, top_k: int):
        super().__init__(spec, setup, tokenizer)
        self.top_k = top_k

    def distribution(self, head: HeadSummary) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-k ids, their log-probabilities and the log of the rest mass, from a head summary."""
        logp = head.top_logits - head.normalizer.unsqueeze(-1)
        return head.top_ids.to(torch.int32).cpu(), logp.cpu(), torch.log1p(-logp.exp().sum(-1).clamp(max=1 - 1e-6)).cpu()

    def compute(self, student_ids: list[list[int]], tails: list[Tail | None]) -> dict[str, torch.Tensor]:
        """Per position of the step's batch, as `_read` would give for all of it; a row with a tail is read
        only up to the tail's start, rows of each kind in a batch of their own (no padding to the longest)."""
        read = [row if tail is None else row[: tail.start] for row, tail in zip(student_ids, tails)]
        width = len(self.prefix) + max(len(row) for row in student_ids) - 1
        out = {"ids": torch.zeros(len(read), width, self.top_k, dtype=torch.int32), "logp": torch.zeros(len(read), width, self.top_k), "rest": torch.zeros(len(read), width)}
        for group in ([i for i, t in enumerate(tails) if t is None], [i for i, t in enumerate(tails) if t is not None]):
            if group:
                _, _, head = self._read([read[i] for i in group], self.top_k, picked=False)
                for name, values in zip(("ids", "logp", "rest"), self.distribution(head)):
                    for j, i in enumerate(group):
                        n = max(len(self.prefix) + len(read[i]) - 1, 0)
                        out[name][i, :n] = values[j, :n]
        for i, tail in enumerate(tails):
            if tail is not None:
                at = slice(len(self.prefix) + tail.start - 1, len(self.prefix) + len(student_ids[i]) - 1)
                out["ids"][i, at], out["logp"][i, at], out["rest"][i, at] = tail.ids, tail.logp, tail.rest
        return out
