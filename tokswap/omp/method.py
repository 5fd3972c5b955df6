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
per-token noise along μ lifts enough new tokens to take much of the probability mass. Reading μ means
loading the whole source model and running it on a short text, once per transplant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..alignment import AlignmentPlan, RowCopy
from ..checkpoint import Embeddings
from ..errors import TokswapError
from ..hidden_mean import output_direction
from ..methods import FillRequest
from ..pieces import piece_means
from .options import OmpOptions
from .output_prior import predict_priors, prior_probe, with_priors
from .pursuit import SparseCodes, sparse_codes


def _anchors(matrix: torch.Tensor, ids: list[list[int]], mean: torch.Tensor) -> torch.Tensor:
    """Mean of `matrix` rows per id list; the shared mean where a list is empty."""
    has = torch.tensor([bool(i) for i in ids])
    return torch.where(has[:, None], piece_means(matrix, ids), mean)


def _spread(centred: torch.Tensor) -> torch.Tensor:
    """Root-mean-square length of centred rows: the scale of a space."""
    return centred.pow(2).sum(1).mean().sqrt()


@dataclass
class Coding:
    """One donor matrix's codes for the new rows it has a row for (`coded`: positions in the request's rows;
    the rest, `missing`, fall back to `subword`), with what a transfer to a source matrix needs."""

    shared: list[RowCopy]
    coded: list[int]
    missing: list[int]
    source_pieces: list[list[int]]
    codes: SparseCodes | None
    relative: torch.Tensor | None
    explained: torch.Tensor | None


class Omp(OmpOptions):
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

    def _coding(self, request: FillRequest, donor: torch.Tensor) -> Coding:
        """Codes of the new rows the donor has, each correction's length relative to the donor's spread, and the
        share of its energy the code explains."""
        plan = request.plan
        shared = [c for c in plan.shared if c.target < len(donor)]
        if not shared:
            raise TokswapError("the source and the donor share no tokens to code new ones with")
        coded = [i for i, row in enumerate(request.rows) if row < len(donor)]
        missing = [i for i, row in enumerate(request.rows) if row >= len(donor)]
        if not coded:
            return Coding(shared, coded, missing, [], None, None, None)
        rows = [request.rows[i] for i in coded]
        source_pieces, donor_pieces = self._pieces(plan, rows, len(donor))
        queries, atoms = self._problem(donor, plan, rows, donor_pieces)
        codes = sparse_codes(queries, atoms, self.k, self.candidates, self.probes, self.batch_size, request.device, rounds=self.rounds, ridge=self.ridge)
        explained = (1 - codes.relative_residuals(queries, atoms).pow(2)).clamp_min(0)
        return Coding(shared, coded, missing, source_pieces, codes, queries.norm(dim=1) / _spread(atoms), explained)

    def _transfer(self, request: FillRequest, matrix: torch.Tensor, coding: Coding, scores_tokens: bool) -> torch.Tensor:
        """New rows of one source matrix: anchor plus the calibrated, gated correction; the donor's output prior
        on rows that score tokens."""
        result = matrix.new_empty(len(request.rows), matrix.shape[1])
        if coding.coded:
            atoms = matrix[[c.source for c in coding.shared]]
            centre = atoms.mean(0)
            correction = coding.codes.combine(atoms - centre)
            if self.calibrate:
                correction *= (coding.relative * _spread(atoms - centre) / correction.norm(dim=1).clamp_min(1e-12))[:, None]
            if self.gate:
                correction *= coding.explained[:, None]
            filled = _anchors(matrix, coding.source_pieces, centre) + correction
            if self.prior and scores_tokens and request.source_spec is not None:
                rows = [request.rows[i] for i in coding.coded]
                filled = self._with_donor_priors(filled, request, atoms, coding.shared, rows)
            result[coding.coded] = filled
        if coding.missing:
            result[coding.missing] = piece_means(matrix, [request.plan.source_pieces[request.rows[i]] for i in coding.missing])
        return result

    @staticmethod
    def _with_donor_priors(rows: torch.Tensor, request: FillRequest, shared_rows: torch.Tensor, shared: list[RowCopy], targets: list[int]) -> torch.Tensor:
        """`rows` with the output priors a probe on the shared tokens (`shared_rows`: theirs in this matrix) reads
        from the donor's output rows."""
        direction = output_direction(request.source_spec)
        donor = request.donor.matrix("output")
        probe = prior_probe(donor[[c.target for c in shared]], shared_rows @ direction)
        return with_priors(rows, predict_priors(probe, donor[targets]), direction)

    def fill(self, request: FillRequest) -> Embeddings:
        """Each source matrix coded over the donor matrix of its kind; a tied donor's codes serve both."""
        if request.donor is None:
            raise TokswapError("method 'omp' needs a donor model")
        source, donor = request.source, request.donor
        coding = self._coding(request, donor.input)
        inputs = self._transfer(request, source.input, coding, source.scores_tokens("input"))
        if source.tied:
            return Embeddings(inputs)
        if not donor.tied:
            coding = self._coding(request, donor.output)
        return Embeddings(inputs, self._transfer(request, source.output, coding, source.scores_tokens("output")))
