"""The one small interface every initialisation method implements, and the registry that finds them.

A method fills the rows the alignment plan could not copy, for every embedding matrix of the source (input,
and output when untied) in one call, and keeps nothing between calls. Each method family lives in its own
folder (`heuristics/`, `omp/`, `hypernet/`) with a light `options.py`: the options dataclass is what the
registry names, the command line reads and checks before anything loads; its `implementation` is the class
(a subclass of the options) that does the work. Adding a method is one options class, one implementation
and one line in `REGISTRY`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar, Protocol

from .errors import TokswapError
from .options import Options

if TYPE_CHECKING:
    from .alignment import AlignmentPlan
    from .byte_vocab import ByteVocab
    from .checkpoint import Embeddings
    from .specs import Spec


@dataclass(frozen=True)
class FillRequest:
    """What a method may look at to fill the `plan.new` rows. `source_spec` says where the whole source model
    can be loaded from, for a method that must run it (`omp`'s output prior); None for matrices in memory."""

    plan: AlignmentPlan
    source_vocab: ByteVocab
    target_vocab: ByteVocab
    source: Embeddings
    donor: Embeddings | None = None
    device: str = "cpu"
    source_spec: Spec | None = None

    @property
    def rows(self) -> list[int]:
        return self.plan.new

    @property
    def pieces(self) -> list[list[int]]:
        """Each new row's source pieces, in `rows` order."""
        return [self.plan.source_pieces[row] for row in self.plan.new]


@dataclass
class MethodOptions(Options):
    """A method's options; `implementation` ("module:Class") is imported only when the method runs."""

    name: ClassVar[str]
    uses_donor: ClassVar[bool] = False
    implementation: ClassVar[str]


class Method(Protocol):
    name: ClassVar[str]
    uses_donor: ClassVar[bool]

    def fill(self, request: FillRequest) -> Embeddings:
        """Rows for `request.rows`, in that order, (len(rows), hidden) float32 per source matrix; tied stays tied."""


REGISTRY: dict[str, str] = {
    "subword": "tokswap.heuristics.options:SubwordOptions",
    "mean": "tokswap.heuristics.options:MeanOptions",
    "zero": "tokswap.heuristics.options:ZeroOptions",
    "random": "tokswap.heuristics.options:RandomOptions",
    "omp": "tokswap.omp.options:OmpOptions",
    "tokenadapt": "tokswap.heuristics.options:TokenAdaptOptions",
    "hypernet": "tokswap.hypernet.options:HypernetOptions",
}


def _named(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def method_names() -> list[str]:
    return sorted(REGISTRY)


def options_class(name: str) -> type[MethodOptions]:
    if name not in REGISTRY:
        raise TokswapError(f"unknown method {name!r}; choose one of: {', '.join(method_names())}")
    return _named(REGISTRY[name])


def checked_options(name: str, **options) -> MethodOptions:
    """The checked options of method `name`; unknown names, options and values are user errors. Cheap: nothing
    heavy is imported."""
    cls = options_class(name)
    unknown = sorted(set(options) - {f.name for f in fields(cls) if f.init})
    if unknown:
        raise TokswapError(f"method {name!r} takes no option {unknown[0]!r}")
    return cls(**options)


def get_method(name: str, **options) -> Method:
    """Instantiate a registered method, after checking its options."""
    return _named(checked_options(name, **options).implementation)(**options)
