"""`subword`: a new token is the mean of the source rows of the pieces the source tokenizer splits it into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..methods import FillRequest


def piece_means(matrix: torch.Tensor, pieces: list[list[int]]) -> torch.Tensor:
    """Mean of `matrix` rows per piece list; an empty list (bytes the source cannot spell) gets the matrix mean."""
    flat = torch.tensor([p for ps in pieces for p in ps], dtype=torch.long)
    offsets = torch.tensor([0] + [len(ps) for ps in pieces[:-1]], dtype=torch.long).cumsum(0)
    means = F.embedding_bag(flat, matrix, offsets, mode="mean")
    empty = torch.tensor([not ps for ps in pieces], dtype=torch.bool)
    means[empty] = matrix.mean(0)
    return means


@dataclass
class Subword:
    name: ClassVar[str] = "subword"
    uses_donor: ClassVar[bool] = False

    def fill(self, request: FillRequest) -> torch.Tensor:
        if not request.rows:
            return request.matrix.new_zeros(0, request.matrix.shape[1])
        return piece_means(request.matrix, [request.plan.source_pieces[i] for i in request.rows])
