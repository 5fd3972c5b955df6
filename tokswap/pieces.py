"""A token's source pieces, and the mean of their rows: the spelling every method starts from."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .byte_vocab import ByteVocab


def source_pieces(source: ByteVocab, data: bytes, rows: int) -> list[int]:
    """The source tokenizer's split of `data`, keeping pieces that have a row and are ordinary tokens."""
    return [p for p in source.encode_bytes(data) if p < rows and p != source.unk_id and not source.special[p]]


def piece_means(matrix: torch.Tensor, pieces: list[list[int]]) -> torch.Tensor:
    """Mean of `matrix` rows per piece list; an empty list (bytes the source cannot spell) gets the matrix mean."""
    if not pieces:
        return matrix.new_zeros(0, matrix.shape[1])
    flat = torch.tensor([p for ps in pieces for p in ps], dtype=torch.long)
    offsets = torch.tensor([0] + [len(ps) for ps in pieces[:-1]], dtype=torch.long).cumsum(0)
    means = F.embedding_bag(flat, matrix, offsets, mode="mean")
    empty = torch.tensor([not ps for ps in pieces], dtype=torch.bool)
    means[empty] = matrix.mean(0)
    return means
