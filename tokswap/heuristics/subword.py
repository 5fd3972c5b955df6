"""`subword`: a new token is the mean of the source rows of the pieces the source tokenizer splits it into."""

from __future__ import annotations

from ..checkpoint import Embeddings
from ..methods import FillRequest
from ..pieces import piece_means
from .options import SubwordOptions


class Subword(SubwordOptions):
    def fill(self, request: FillRequest) -> Embeddings:
        pieces = request.pieces
        return request.source.map(lambda matrix: piece_means(matrix, pieces))
