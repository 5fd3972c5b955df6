"""The one small interface every initialisation method implements, and the registry that finds them.

A method fills the rows the alignment plan could not copy, one embedding matrix at a time (input, then
output for untied models). Adding a method is one new module plus one line in `REGISTRY`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable, ClassVar, Literal, Protocol

import torch

from .errors import TokswapError

if TYPE_CHECKING:
    from .alignment import AlignmentPlan
    from .byte_vocab import ByteVocab
    from .source_model import Embeddings

MatrixKind = Literal["input", "output"]


@dataclass
class FillRequest:
    """What a method may look at to fill `plan.new` rows of one matrix (`source`: both of the source's
    matrices, for methods that read the input and output rows together; `output_prior`: the source's mean
    output-layer input μ, computed on first call by running the source model, see `output_prior`)."""

    plan: AlignmentPlan
    source_vocab: ByteVocab
    target_vocab: ByteVocab
    matrix: torch.Tensor
    kind: MatrixKind
    donor: Embeddings | None = None
    device: str = "cpu"
    source: Embeddings | None = None
    output_prior: Callable[[], torch.Tensor] | None = None

    @property
    def rows(self) -> list[int]:
        return self.plan.new

    @property
    def scores_tokens(self) -> bool:
        """Whether these rows score next tokens: the output matrix, or the input matrix of a tied model."""
        return self.kind == "output" or (self.source is not None and self.source.output is None)


class Method(Protocol):
    name: ClassVar[str]
    uses_donor: ClassVar[bool]

    def fill(self, request: FillRequest) -> torch.Tensor:
        """Rows for `request.rows`, in that order, shape (len(rows), hidden), float32."""


REGISTRY: dict[str, str] = {
    "subword": "tokswap.heuristics.subword:Subword",
    "mean": "tokswap.heuristics.baselines:Mean",
    "zero": "tokswap.heuristics.baselines:Zero",
    "random": "tokswap.heuristics.baselines:Random",
    "omp": "tokswap.omp_method:Omp",
    "tokenadapt": "tokswap.heuristics.tokenadapt:TokenAdapt",
    "hypernet": "tokswap.hypernet.method:HypernetMethod",
}


def method_names() -> list[str]:
    return sorted(REGISTRY)


def get_method(name: str, **options) -> Method:
    """Instantiate a registered method; unknown names and options are user errors."""
    if name not in REGISTRY:
        raise TokswapError(f"unknown method {name!r}; choose one of: {', '.join(method_names())}")
    module, cls_name = REGISTRY[name].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    accepted = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TokswapError(f"method {name!r} takes no option {unknown[0]!r}")
    return cls(**options)
