"""`transplant --gguf`: the transplanted model as a GGUF beside its folder, refused before the transplant's
work (a bad destination, an architecture or a vocabulary llama.cpp cannot take) and written inside the folder's
publication."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..loading import Model, Target
from .architectures import check_exportable
from .export import check_gguf_request, export_gguf
from .vocab import llamacpp_pre


@dataclass(frozen=True)
class GgufCompanion:
    """What `transplant(..., companion=)` takes to write the same model as a GGUF (weight type `kind`)."""

    path: str | Path
    kind: str = "f16"

    def check_destination(self, force: bool) -> None:
        check_gguf_request(Path(self.path), self.kind, force)

    def check_inputs(self, source: Model, target: Target) -> None:
        check_exportable(source.weights.config, source.spec.text)
        if target.spec.kind != "gguf":
            llamacpp_pre(target.tokenizer, target.spec.text)

    def write(self, folder: Path) -> None:
        export_gguf(str(folder), self.path, kind=self.kind, force=True)

