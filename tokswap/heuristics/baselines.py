"""Baselines every real method should beat: the source mean, zeros, and seeded noise shaped like the source."""

from __future__ import annotations

import torch

from ..checkpoint import Embeddings
from ..methods import FillRequest
from .options import MeanOptions, RandomOptions, ZeroOptions


class Mean(MeanOptions):
    def fill(self, request: FillRequest) -> Embeddings:
        return request.source.map(lambda matrix: matrix.mean(0).expand(len(request.rows), -1).clone())


class Zero(ZeroOptions):
    def fill(self, request: FillRequest) -> Embeddings:
        return request.source.map(lambda matrix: matrix.new_zeros(len(request.rows), matrix.shape[1]))


class Random(RandomOptions):
    """Normal noise with each source matrix's per-dimension mean and std, reproducible by `seed`."""

    def fill(self, request: FillRequest) -> Embeddings:
        def noise(matrix: torch.Tensor, offset: int) -> torch.Tensor:
            generator = torch.Generator().manual_seed(self.seed + offset)
            return torch.randn(len(request.rows), matrix.shape[1], generator=generator) * matrix.std(0) + matrix.mean(0)

        source = request.source
        return Embeddings(noise(source.input, 0), None if source.tied else noise(source.output, 1))
