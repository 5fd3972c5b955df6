"""`draft_vocab.safetensors`: the target tokens a drafter may propose (its hot vocabulary), stored in
EAGLE-3's convention (the one vLLM and SGLang use for EAGLE-3 draft heads): `d2t[i]` is the offset from draft
id `i` to its target id, `t2d` marks the kept target ids. Kept ids are sorted, so draft id order is target id
order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import TokswapError

DRAFT_VOCAB_FILE = "draft_vocab.safetensors"


@dataclass(frozen=True)
class DraftVocab:
    target_ids: torch.Tensor
    target_size: int

    def __len__(self) -> int:
        return len(self.target_ids)

    def eagle3(self) -> dict[str, torch.Tensor]:
        t2d = torch.zeros(self.target_size, dtype=torch.bool)
        t2d[self.target_ids] = True
        return {"d2t": self.target_ids - torch.arange(len(self)), "t2d": t2d}

    @classmethod
    def from_eagle3(cls, d2t: torch.Tensor, t2d: torch.Tensor) -> DraftVocab:
        """Both tensors checked against each other, so a runtime never indexes out of range."""
        if d2t.dtype != torch.int64 or t2d.dtype != torch.bool or d2t.dim() != 1 or t2d.dim() != 1:
            raise ValueError("d2t must be 1-D int64 and t2d 1-D bool")
        ids = d2t + torch.arange(len(d2t))
        inside = len(ids) > 0 and bool((ids >= 0).all() and (ids < len(t2d)).all())
        if not inside or not bool((ids[1:] > ids[:-1]).all()) or int(t2d.sum()) != len(ids) or not bool(t2d[ids].all()):
            raise ValueError("d2t and t2d do not describe the same sorted set of target ids")
        return cls(ids, len(t2d))


def save_draft_vocab(vocab: DraftVocab, path: Path, metadata: dict[str, str]) -> None:
    save_file(vocab.eagle3(), str(path), metadata={"format": "pt", **metadata})


def read_draft_vocab(folder: Path) -> DraftVocab | None:
    """The folder's hot vocabulary, or None when it has none."""
    path = Path(folder) / DRAFT_VOCAB_FILE
    if not path.is_file():
        return None
    try:
        tensors = load_file(str(path))
        return DraftVocab.from_eagle3(tensors["d2t"], tensors["t2d"])
    except (SafetensorError, KeyError, ValueError, OSError) as exc:
        raise TokswapError(f"{path} is not a draft vocabulary (EAGLE-3 d2t/t2d): {exc}") from None
