"""GGUF files converted once into Hugging Face folders, and read from those afterwards.

transformers parses a GGUF's whole vocabulary and dequantizes every tensor on each load, paid by every command
and every run; a converted folder loads many times faster, and safetensors let a transplant read the
embeddings alone. Entries live under `cache_dir("gguf")`, keyed by the file's resolved path, size and
modification time and the transformers version that converted it (a tokenizer also by the split recipe of
`tokenizer`); each is a checked cache entry (`cache.cached_folder`).

A tokenizer is cached only when the folder reloads into a tokenizer the contract cannot tell from the GGUF's
(vocabulary, added tokens, special ids, add-bos/eos, chat template, pipeline): otherwise the entry holds a
`refused` marker and every load reads the GGUF without trying again, so a cached load never changes what a
user gets.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import transformers

from ..cache import cache_dir, cached_folder
from ..contract import tokenizer_checks
from ..specs import Spec
from .tokenizer import RECIPE

REFUSED = "refused"


def _entry(spec: Spec, part: str) -> Path:
    stat = spec.path.stat()
    identity = f"{spec.path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{transformers.__version__}"
    if part == "tokenizer":
        identity += f"\0{RECIPE}"
    return cache_dir("gguf") / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}-{part}"


def tokenizer(spec: Spec, read: Callable[[], Any]):
    """A GGUF's tokenizer: from its cached folder, or `read()` (loading it from the GGUF) on a first call, which
    saves it when the saved copy reloads equal to it and otherwise marks it refused."""
    from transformers import AutoTokenizer

    first = []

    def build(folder: Path) -> None:
        first.append(read())
        first[0].save_pretrained(folder)
        if not all(check.ok for check in tokenizer_checks(AutoTokenizer.from_pretrained(folder), first[0])):
            shutil.rmtree(folder)
            folder.mkdir()
            (folder / REFUSED).touch()

    entry = cached_folder(_entry(spec, "tokenizer"), f"tokenizer of {spec.path.name}", build)
    if first:
        return first[0]
    return read() if (entry / REFUSED).exists() else AutoTokenizer.from_pretrained(entry)


def model_folder(spec: Spec, read: Callable[[], Any]) -> Path:
    """The cached folder (config.json, float32 safetensors) of a GGUF model, made with `read()` (the model
    transformers dequantized from it) on the first call."""

    def build(folder: Path) -> None:
        model = read()
        # Dequantized weights are plain float32: only transformers' GGUF markers remain, and they block saving.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(folder)

    return cached_folder(_entry(spec, "model"), f"{spec.path.name} as a float32 Hugging Face model", build)
