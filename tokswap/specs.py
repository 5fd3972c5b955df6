"""Turn what the user typed (hub id, folder, .gguf, tokenizer.json, demo alias) into something on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import demo
from .errors import TokswapError, first_line

SpecKind = Literal["folder", "gguf", "tokenizer_json"]
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


@dataclass(frozen=True)
class Spec:
    text: str
    kind: SpecKind
    path: Path

    @property
    def gguf_args(self) -> tuple[str, dict]:
        """Arguments for transformers' `from_pretrained` that reach this spec."""
        if self.kind == "gguf":
            return str(self.path.parent), {"gguf_file": self.path.name}
        return str(self.path), {}


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith((".gguf", ".json")) or text.count("/") > 1


def _packaged() -> list[str]:
    return [*demo.MODEL_ALIASES, *(demo.LLAMACPP_PREFIX + name for name in demo.FAITHFUL_LLAMACPP_VOCABS)]


def _packaged_summary() -> str:
    return f"{', '.join(demo.MODEL_ALIASES)}, {demo.LLAMACPP_PREFIX}NAME"


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except Exception as exc:  # noqa: BLE001 - any hub failure is one user-facing line
        packaged = "" if "/" in repo_id else f"; packaged: {_packaged_summary()}"
        raise TokswapError(f"cannot fetch {repo_id!r} from the Hugging Face hub: {first_line(exc)}{packaged}") from None


def resolve(text: str) -> Spec:
    """Resolve a MODEL or TOKENIZER argument; missing paths and unreachable hub ids are user errors."""
    if text in demo.MODEL_ALIASES:
        return Spec(text, "gguf", demo.MODEL_ALIASES[text]())
    if text.startswith(demo.LLAMACPP_PREFIX):
        return Spec(text, "gguf", demo.llamacpp_vocab(text[len(demo.LLAMACPP_PREFIX) :]))
    path = Path(text).expanduser()
    if path.is_dir():
        return Spec(text, "folder", path)
    if path.is_file():
        if path.suffix == ".gguf":
            return Spec(text, "gguf", path)
        if path.suffix == ".json":
            return Spec(text, "tokenizer_json", path)
        raise TokswapError(f"{text}: expected a folder, a .gguf file or a tokenizer.json")
    if _looks_like_path(text):
        raise TokswapError(f"{text}: no such file or folder")
    suggestion = "" if "/" in text else demo.did_you_mean(text, _packaged())
    if suggestion:  # a near miss of a packaged name is a typo, not a hub id to look up
        raise TokswapError(f"{text!r} is not a packaged model or tokenizer; {suggestion}(packaged: {_packaged_summary()})")
    return Spec(text, "folder", _from_hub(text))


def local_gguf(text: str) -> Spec | None:
    """`text` as a GGUF spec when it names one reachable without the hub (a packaged name, a .gguf file)."""
    packaged = text in demo.MODEL_ALIASES or text.startswith(demo.LLAMACPP_PREFIX)
    if packaged or (text.endswith(".gguf") and Path(text).expanduser().is_file()):
        return resolve(text)
    return None
