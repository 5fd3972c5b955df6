"""GGUF files converted once into Hugging Face folders, and read from those afterwards.

transformers parses a GGUF's whole vocabulary and dequantizes every tensor on each load, paid by every command
and every run; a converted folder loads many times faster, and safetensors let a transplant read the
embeddings alone. Entries live under `cache_dir("gguf")`, keyed by the file's resolved path, size and
modification time and the transformers version that converted it; each appears whole or not at all.

A tokenizer is cached only when the folder reloads into a tokenizer the contract cannot tell from the GGUF's
(vocabulary, added tokens, special ids, add-bos/eos, chat template, pipeline): otherwise a `tokenizer.refused`
marker remembers it and every load reads the GGUF without trying again, so a cached load never changes what
a user gets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import transformers

from .cache import cache_dir
from .contract import tokenizer_checks
from .specs import Spec
from .staging import published_folder


def _entry(spec: Spec, part: str) -> Path:
    stat = spec.path.stat()
    identity = f"{spec.path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{transformers.__version__}"
    return cache_dir("gguf", hashlib.sha256(identity.encode()).hexdigest()[:24]) / part


class _Refused(Exception):
    """The saved copy of a tokenizer reloads different from the original: nothing is published."""


def tokenizer(spec: Spec, read: Callable[[], Any]):
    """A GGUF's tokenizer: from its cached folder, or `read()` (loading it from the GGUF) on a first call, which
    saves it when the saved copy reloads equal to it and otherwise marks it refused."""
    from transformers import AutoTokenizer

    final = _entry(spec, "tokenizer")
    refused = final.with_suffix(".refused")
    if final.is_dir():
        return AutoTokenizer.from_pretrained(final)
    original = read()
    if refused.exists():
        return original
    try:
        with published_folder(final) as staging:
            original.save_pretrained(staging)
            if not all(check.ok for check in tokenizer_checks(AutoTokenizer.from_pretrained(staging), original)):
                raise _Refused
    except _Refused:
        refused.touch()
    return original


def model_folder(spec: Spec, read: Callable[[], Any]) -> Path:
    """The cached folder (config.json, float32 safetensors) of a GGUF model, made with `read()` (the model
    transformers dequantized from it) on the first call."""
    final = _entry(spec, "model")
    if not final.is_dir():
        with published_folder(final) as staging:
            model = read()
            # Dequantized weights are plain float32: only transformers' GGUF markers remain, and they block saving.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(staging)
    return final
