"""Approximate likelihood matching across two tokenizations of one text (after tokenkit's ALM).

Where both tokenizations have a token boundary at the same byte offset, the text between two such offsets
is a chunk both sides predict whole: the sum of one side's token log-likelihoods inside it is that side's
log-likelihood of the chunk's bytes, so the two sums compare although the tokens do not. Matching them
chunk by chunk pulls the student's bits per byte toward the teacher's, which is what a transplant loses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Side:
    """One tokenization of a window: each token's end byte offset, and the first token the model predicts
    (1 when there is no BOS to predict the first from)."""

    ends: np.ndarray
    first: int

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], self.ends[:-1]]).astype(self.ends.dtype)


@dataclass(frozen=True)
class Chunks:
    """Each token's chunk (-1 outside every chunk) on both sides, and each chunk's length in bytes."""

    student: torch.Tensor
    teacher: torch.Tensor
    sizes: torch.Tensor


def text_ends(token_bytes: list[bytes | None], ids: list[int], data: bytes) -> np.ndarray | None:
    """Each token's end offset in `data`, or None when the tokens do not spell its start (a normalizing
    tokenizer); a space a SentencePiece tokenizer puts before the first word is not in the text."""
    pieces = [token_bytes[i] or b"" for i in ids]
    ends = np.cumsum([len(p) for p in pieces], dtype=np.int64)
    spelled = b"".join(pieces)
    if data.startswith(spelled):
        return ends
    if spelled.startswith(b" ") and data.startswith(spelled[1:]):
        return np.maximum(ends - 1, 0)
    return None


def shared_chunks(student: Side, teacher: Side) -> Chunks:
    """The chunks between consecutive boundaries both sides share, from the first shared boundary where both
    predict to the last where both have text. A chunk never starts at a boundary only one side has: there
    one side's first token would hold bytes the other's does not."""
    bounds = np.zeros(1, dtype=np.int64)
    if student.first < len(student.ends) and teacher.first < len(teacher.ends):
        begin = max(student.starts[student.first], teacher.starts[teacher.first])
        last = min(student.ends[-1], teacher.ends[-1])
        shared = np.intersect1d(np.concatenate([[0], student.ends]), np.concatenate([[0], teacher.ends]))
        inside = shared[(shared >= begin) & (shared <= last)]
        bounds = inside if len(inside) else bounds

    def assign(side: Side) -> torch.Tensor:
        index = np.searchsorted(bounds, side.starts, side="right") - 1
        inside = (np.arange(len(side.ends)) >= side.first) & (side.starts >= bounds[0]) & (side.ends <= bounds[-1]) & (side.ends > side.starts)
        return torch.from_numpy(np.where(inside, index, -1))

    return Chunks(assign(student), assign(teacher), torch.from_numpy(np.diff(bounds)))


def chunk_sums(log_probs: torch.Tensor, index: torch.Tensor, count: int) -> torch.Tensor:
    """Each chunk's summed token log-likelihood; tokens outside every chunk (index -1) are left out."""
    kept = index >= 0
    return log_probs.new_zeros(count).index_add(0, index[kept].to(log_probs.device), log_probs[kept])
