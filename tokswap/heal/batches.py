"""Token sequences as model inputs: a BOS (when the tokenizer adds one) before each, right-padded, with the
position that predicts each token."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sequences:
    """`inputs[i]` is prefix + `ids[i]` + padding; token j of `ids[i]` is predicted at position
    `offset + j - 1`, for j >= `first`."""

    inputs: torch.Tensor
    lengths: list[int]
    offset: int

    @property
    def first(self) -> int:
        return 0 if self.offset else 1

    def targets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each position's next token and whether it is a predicted text token."""
        nxt = self.inputs[:, 1:]
        step = torch.arange(nxt.shape[1]) + 1
        lengths = torch.tensor(self.lengths).unsqueeze(1)
        return nxt, (step >= max(self.offset, 1)) & (step < self.offset + lengths)

    def after_token(self, values: torch.Tensor, i: int) -> torch.Tensor:
        """Row i's values at the position that has just read each of its tokens."""
        return values[i, self.offset : self.offset + self.lengths[i]]

    def per_token(self, values: torch.Tensor, i: int) -> torch.Tensor:
        """Row i's values at positions predicting its tokens, one per token (0 for tokens not predicted)."""
        n = self.lengths[i]
        out = values.new_zeros(n)
        out[self.first :] = values[i, self.offset + self.first - 1 : self.offset + n - 1]
        return out


def sequences(prefix: list[int], ids: list[list[int]], pad: int = 0) -> Sequences:
    width = len(prefix) + max((len(x) for x in ids), default=0)
    inputs = torch.full((len(ids), max(width, 1)), pad, dtype=torch.long)
    for i, row in enumerate(ids):
        inputs[i, : len(prefix) + len(row)] = torch.tensor(prefix + row, dtype=torch.long)
    return Sequences(inputs, [len(x) for x in ids], len(prefix))
