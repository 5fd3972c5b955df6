"""llama.cpp's own tools, built once from the llama-cpp-python sdist's `vendor/llama.cpp` into the cache.

About 15 minutes on 2 cores for the first tool, seconds for each further one. Configured with
`-DGGML_NATIVE=OFF` and AVX2/FMA/F16C: a `-march=native` build dies with an illegal instruction on this machine.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tokswap.cache import cache_dir
from tokswap.demo import LLAMA_CPP_SOURCE, pip_download

CMAKE_FLAGS = ["-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DLLAMA_CURL=OFF", "-DCMAKE_BUILD_TYPE=Release"]


def _source(build: Path) -> Path:
    source = build / "source"
    if not (source / "CMakeLists.txt").is_file():
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(pip_download(LLAMA_CPP_SOURCE, Path(tmp))) as tf:
            prefix = tf.getnames()[0].split("/")[0] + "/vendor/llama.cpp/"
            members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
            for member in members:
                member.name = member.name[len(prefix) :]
            tf.extractall(source, members=[m for m in members if m.name], filter="data")
    return source


def built_tool(target: str) -> Path:
    """`bin/<target>` of the cached llama.cpp build, configured and built on first use."""
    build = cache_dir("llamacpp-build")
    tool = build / "bin" / target
    if tool.is_file():
        return tool
    if not (build / "build.ninja").is_file():
        subprocess.run(["cmake", "-S", str(_source(build)), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build), "--target", target, "-j2"], check=True, stdout=subprocess.DEVNULL)
    return tool


def llamacpp_ids(tool: Path, gguf: Path, text: str) -> list[int]:
    """The ids `llama-tokenize` gives `text` (no BOS, no escapes)."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as fh:
        fh.write(text)
        fh.flush()
        done = subprocess.run(
            [str(tool), "-m", str(gguf), "-f", fh.name, "--ids", "--no-bos", "--no-escape", "--log-disable"],
            capture_output=True, text=True, check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])
