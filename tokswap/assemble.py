"""Put a new embedding matrix together from the alignment plan and a method's rows."""

from __future__ import annotations

import torch

from .alignment import AlignmentPlan
from .errors import TokswapError


def assemble(plan: AlignmentPlan, source: torch.Tensor, filled: torch.Tensor, what: str, below: torch.Tensor | None = None) -> torch.Tensor:
    """Copied rows from `source`, `filled` for the new rows, the source mean for padding rows; each twin gets
    its ordinary token's row, minus `below` where the matrix scores next tokens."""
    if filled.shape != (len(plan.new), source.shape[1]):
        raise ValueError(f"{what}: method returned {tuple(filled.shape)}, expected {(len(plan.new), source.shape[1])}")
    matrix = source.new_empty(plan.target_rows, source.shape[1])
    copies = plan.shared + plan.special
    matrix[[c.target for c in copies]] = source[[c.source for c in copies]]
    matrix[plan.new] = filled.to(source.dtype)
    matrix[plan.padding] = source.mean(0)
    twins = [t.target for t in plan.twins]
    matrix[twins] = matrix[[t.ordinary for t in plan.twins]] - (0 if below is None else below.to(source.dtype))
    bad = (~torch.isfinite(matrix)).any(1).nonzero().flatten()
    if len(bad):
        raise TokswapError(f"{what}: {len(bad)} rows are not finite (first target id {int(bad[0])}); nothing was written")
    return matrix
