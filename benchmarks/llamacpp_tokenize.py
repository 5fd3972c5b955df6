"""llama.cpp's own `llama-tokenize` as the second witness that tokswap reads GGUF tokenizers as llama.cpp does.

Tokenizes each dev text (and each golden test string) with tokswap and with `llama-tokenize` (no BOS, no
escapes) for every faithful `llamacpp:` vocabulary and the packaged models, and prints how many agree. The
binary is built once from the llama-cpp-python sdist's `vendor/llama.cpp` into the cache (about 15 minutes on 2
cores; `-DGGML_NATIVE=OFF` with AVX2, as a native build dies with an illegal instruction here), or given with
`--llama-tokenize`.

    PYTHONPATH=. python benchmarks/llamacpp_tokenize.py [--data ../shared/corpus/dev] [--llama-tokenize PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tokswap.cache import cache_dir
from tokswap.demo import FAITHFUL_LLAMACPP_VOCABS, LLAMA_CPP_SOURCE, LLAMACPP_PREFIX, pip_download
from tokswap.gguf_tokenizer import golden_vectors
from tokswap.golden import read_golden
from tokswap.specs import resolve
from tokswap.tokenizer_io import load_tokenizer

CMAKE_FLAGS = ["-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DLLAMA_CURL=OFF", "-DCMAKE_BUILD_TYPE=Release"]


def built_tool(target: str) -> Path:
    """`bin/<target>` of a llama.cpp build in the cache, configured and built on first use."""
    build = cache_dir("llamacpp-build")
    tool = build / "bin" / target
    if tool.is_file():
        return tool
    source = build / "source"
    if not (source / "CMakeLists.txt").is_file():
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(pip_download(LLAMA_CPP_SOURCE, Path(tmp))) as tf:
            prefix = tf.getnames()[0].split("/")[0] + "/vendor/llama.cpp/"
            members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
            for member in members:
                member.name = member.name[len(prefix) :]
            tf.extractall(source, members=[m for m in members if m.name], filter="data")
    subprocess.run(["cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build), "--target", target, "-j2"], check=True, stdout=subprocess.DEVNULL)
    return tool


def llamacpp_ids(tool: Path, gguf: Path, text: str) -> list[int]:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as fh:
        fh.write(text)
        fh.flush()
        done = subprocess.run(
            [str(tool), "-m", str(gguf), "-f", fh.name, "--ids", "--no-bos", "--no-escape", "--log-disable"],
            capture_output=True, text=True, check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def witness(tool: Path, name: str, texts: dict[str, str]) -> dict:
    spec = resolve(name)
    tokenizer = load_tokenizer(spec)
    golden = golden_vectors(spec.path)
    cases = {**texts, **({f"golden {i}": c.text for i, c in enumerate(read_golden(golden))} if golden else {})}
    differ = [key for key, text in cases.items() if tokenizer.encode(text, add_special_tokens=False) != llamacpp_ids(tool, spec.path, text)]
    return {"texts": len(cases), "agree": len(cases) - len(differ), "differ": differ}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"))
    parser.add_argument("--llama-tokenize", type=Path, help="an existing llama-tokenize binary")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tool = args.llama_tokenize or built_tool("llama-tokenize")
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(Path(args.data).glob("*.txt"))}
    names = ["smollm2-135m", "gemma-3-270m", *(LLAMACPP_PREFIX + name for name in FAITHFUL_LLAMACPP_VOCABS)]
    figures = {}
    for name in names:
        figures[name] = witness(tool, name, texts)
        if not args.json:
            row = figures[name]
            print(f"{name:26s} {row['agree']:3d}/{row['texts']} agree with llama-tokenize" + (f"; differ: {', '.join(row['differ'])}" if row["differ"] else ""), flush=True)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
