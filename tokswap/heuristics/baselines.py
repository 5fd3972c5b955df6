"""Baselines every real method should beat: the source mean, zeros, and seeded noise shaped like the source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..methods import FillRequest


@dataclass
class Mean:
    name: ClassVar[str] = "mean"
    uses_donor: ClassVar[bool] = False

    def fill(self, request: FillRequest) -> torch.Tensor:
        return request.matrix.mean(0).expand(len(request.rows), -1).clone()


@dataclass
class Zero:
    name: ClassVar[str] = "zero"
    uses_donor: ClassVar[bool] = False

    def fill(self, request: FillRequest) -> torch.Tensor:
        return request.matrix.new_zeros(len(request.rows), request.matrix.shape[1])


@dataclass
class Random:
    """Normal noise with the source matrix's per-dimension mean and std, reproducible by `seed`."""

    name: ClassVar[str] = "random"
    uses_donor: ClassVar[bool] = False
    seed: int = 0

    def fill(self, request: FillRequest) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed + (request.kind == "output"))
        noise = torch.randn(len(request.rows), request.matrix.shape[1], generator=generator)
        return noise * request.matrix.std(0) + request.matrix.mean(0)
