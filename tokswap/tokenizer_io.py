"""Load a tokenizer from any spec, and write it into an output folder unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .errors import TokswapError, first_line
from .gguf import conversion
from .gguf.metadata import gguf_metadata
from .gguf.tokenizer import as_llamacpp, check_golden
from .specs import Spec

GENERIC_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)


def load_tokenizer(spec: Spec):
    try:
        if spec.kind == "tokenizer_json":
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(spec.path))
        elif spec.kind == "gguf":
            tokenizer = conversion.tokenizer(spec, lambda: read_gguf_tokenizer(spec))
        else:
            tokenizer = folder_tokenizer(spec.path)
    except TokswapError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure is one user-facing line
        raise TokswapError(f"cannot load a tokenizer from {spec.text}: {first_line(exc)}") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise TokswapError(f"{spec.text}: only tokenizers backed by the `tokenizers` library are supported")
    if spec.kind == "gguf":
        check_golden(tokenizer, spec.path, spec.text)
    return tokenizer


def folder_tokenizer(folder: Path):
    """A folder's tokenizer as its tokenizer.json says when its tokenizer_config names the generic class (every
    folder tokswap writes). transformers 5 gives some model types (qwen2) their own tokenizer class whatever the
    config names, rebuilt from the vocabulary with that model's splitting: a Qwen2 drafter on Gemma-3's
    vocabulary would not split text as Gemma-3 does."""
    config = folder / "tokenizer_config.json"
    generic = config.is_file() and json.loads(config.read_text()).get("tokenizer_class") in GENERIC_CLASSES
    if generic and (folder / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def read_gguf_tokenizer(spec: Spec):
    """transformers' reading of a GGUF's tokenizer, made to split text as llama.cpp does for that file."""
    metadata = gguf_metadata(spec.path)
    path, kwargs = spec.gguf_args
    return as_llamacpp(AutoTokenizer.from_pretrained(path, **kwargs), metadata)


def save_tokenizer(tokenizer, spec: Spec, folder: Path) -> None:
    """Copy a folder's tokenizer files byte for byte; tokenizers from GGUF or a tokenizer.json are serialised."""
    copied = [name for name in TOKENIZER_FILES if spec.kind == "folder" and (spec.path / name).is_file()]
    for name in copied:
        shutil.copyfile(spec.path / name, folder / name)
    if not copied:
        tokenizer.save_pretrained(folder)


def bos_prefix(tokenizer) -> list[int]:
    """The BOS the tokenizer adds to every text, or nothing."""
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("x").input_ids[:1] == [bos] else []
