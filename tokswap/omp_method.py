"""`omp`: sparse-code each new token in the donor's embedding space over the shared tokens, reuse the code in
the source's space (Goddard & Neto 2025, "Training-Free Tokenizer Transplantation via OMP").

The code describes how a token differs from an anchor that exists in both spaces. `anchor="mean"` is the
shared-token mean of each space (centring); `anchor="subword"` is the mean of the token's source-tokenizer
pieces, whose rows both spaces have when the pieces are shared tokens, so OMP only has to explain what
the spelling does not.

A least-squares fit over 64 atoms cancels in the donor space but not in the source space, whose geometry
differs: uncalibrated, the transferred correction is about 8× longer than a typical row, and with tied
embeddings such rows swamp the output distribution. `calibrate` keeps the correction's direction and gives
it the length the donor's correction has, relative to the spread of the shared rows in each space.
`gate` then scales it by the share of the donor correction's energy the code explains (1 − relative
residual²): a token whose code leaves half of it unexplained gets a correction transferred with less trust.
Tokens the donor has no row for fall back to `subword`.

Rows that score next tokens (tied or output embeddings) then get their output prior from the donor
(`prior`, see `output_prior`): the transferred correction gets the mean prior about right, but its
per-token noise along μ lifts enough new tokens to take much of the probability mass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .alignment import AlignmentPlan
from .errors import TokswapError
from .heuristics.subword import piece_means
from .methods import FillRequest
from .omp import SparseCodes, sparse_codes
from .output_prior import predict_priors, prior_probe, with_priors

ANCHORS = ("mean", "subword")


def _anchors(matrix: torch.Tensor, ids: list[list[int]], mean: torch.Tensor) -> torch.Tensor:
    """Mean of `matrix` rows per id list; the shared mean where a list is empty."""
    has = torch.tensor([bool(i) for i in ids])
    return torch.where(has[:, None], piece_means(matrix, ids), mean)


def _spread(centred: torch.Tensor) -> torch.Tensor:
    """Root-mean-square length of centred rows: the scale of a space."""
    return centred.pow(2).sum(1).mean().sqrt()


@dataclass
class Omp:
    name: ClassVar[str] = "omp"
    uses_donor: ClassVar[bool] = True

    k: int = 64
    candidates: int = 64
    probes: int | None = None
    rounds: int = 1
    ridge: float = 0.01
    batch_size: int = 1024
    anchor: str = "subword"
    calibrate: bool = True
    gate: bool = True
    prior: bool = True
    _codes: dict = field(default_factory=dict, init=False, repr=False)

    def _pieces(self, plan: AlignmentPlan, rows: list[int], donor_rows: int) -> tuple[list[list[int]], list[list[int]]]:
        """Each row's source pieces that are shared tokens the donor has, as source ids and as donor ids."""
        to_target = {c.source: c.target for c in plan.shared if c.target < donor_rows}
        if self.anchor == "mean":
            return [[] for _ in rows], [[] for _ in rows]
        source = [[p for p in plan.source_pieces[row] if p in to_target] for row in rows]
        return source, [[to_target[p] for p in ps] for ps in source]

    def problem(self, donor: torch.Tensor, plan: AlignmentPlan, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """What OMP codes: donor rows minus their anchors, over the centred shared donor rows."""
        return self._problem(donor, plan, rows, self._pieces(plan, rows, len(donor))[1])

    @staticmethod
    def _problem(donor: torch.Tensor, plan: AlignmentPlan, rows: list[int], pieces: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        atoms = donor[[c.target for c in plan.shared if c.target < len(donor)]]
        centre = atoms.mean(0)
        return donor[rows] - _anchors(donor, pieces, centre), atoms - centre

    def _sparse_codes(self, donor: torch.Tensor, plan: AlignmentPlan, rows: list[int], pieces: list[list[int]], device: str) -> tuple[SparseCodes, torch.Tensor, torch.Tensor]:
        """Codes, each correction's length relative to the donor's spread, and the share of its energy the
        code explains; once per donor matrix (an untied source with a tied donor reuses them for its output rows)."""
        key = (donor.data_ptr(), tuple(donor.shape))
        if key not in self._codes:
            queries, atoms = self._problem(donor, plan, rows, pieces)
            codes = sparse_codes(queries, atoms, self.k, self.candidates, self.probes, self.batch_size, device, rounds=self.rounds, ridge=self.ridge)
            explained = (1 - codes.relative_residuals(queries, atoms).pow(2)).clamp_min(0)
            self._codes[key] = codes, queries.norm(dim=1) / _spread(atoms), explained
        return self._codes[key]

    def fill(self, request: FillRequest) -> torch.Tensor:
        if request.donor is None:
            raise TokswapError("method 'omp' needs a donor model")
        if self.anchor not in ANCHORS:
            raise TokswapError(f"omp anchor must be one of {', '.join(ANCHORS)}")
        if self.k < 1 or self.candidates < self.k or self.batch_size < 1 or self.rounds < 1 or self.ridge < 0 or (self.probes is not None and self.probes < 1):
            raise TokswapError("omp needs k >= 1, candidates >= k, probes >= 1, rounds >= 1, ridge >= 0 and batch size >= 1")
        donor = request.donor.matrix(request.kind)
        plan, matrix = request.plan, request.matrix
        shared = [c for c in plan.shared if c.target < len(donor)]
        if not shared:
            raise TokswapError("the source and the donor share no tokens to code new ones with")
        result = matrix.new_empty(len(request.rows), matrix.shape[1])
        coded = [i for i, row in enumerate(request.rows) if row < len(donor)]
        missing = [i for i, row in enumerate(request.rows) if row >= len(donor)]
        if coded:
            rows = [request.rows[i] for i in coded]
            source_pieces, donor_pieces = self._pieces(plan, rows, len(donor))
            codes, relative, explained = self._sparse_codes(donor, plan, rows, donor_pieces, request.device)
            atoms = matrix[[c.source for c in shared]]
            centre = atoms.mean(0)
            correction = codes.combine(atoms - centre)
            if self.calibrate:
                correction *= (relative * _spread(atoms - centre) / correction.norm(dim=1).clamp_min(1e-12))[:, None]
            if self.gate:
                correction *= explained[:, None]
            filled = _anchors(matrix, source_pieces, centre) + correction
            if self.prior and request.scores_tokens and request.output_prior is not None:
                filled = self._with_donor_priors(filled, request, atoms, shared, rows)
            result[coded] = filled
        if missing:
            result[missing] = piece_means(matrix, [plan.source_pieces[request.rows[i]] for i in missing])
        return result

    @staticmethod
    def _with_donor_priors(rows: torch.Tensor, request: FillRequest, shared_rows: torch.Tensor, shared: list, targets: list[int]) -> torch.Tensor:
        """`rows` with the output priors a probe on the shared tokens (`shared_rows`: theirs in this matrix) reads
        from the donor's output rows."""
        direction = request.output_prior()
        donor = request.donor.matrix("output")
        probe = prior_probe(donor[[c.target for c in shared]], shared_rows @ direction)
        return with_priors(rows, predict_priors(probe, donor[targets]), direction)
