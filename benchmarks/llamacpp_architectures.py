"""llama.cpp runs every architecture export-gguf writes, and computes what transformers computes on the folder.

The unit tests' tiny random models of each architecture (tests/builders.py, tied and untied heads) are
transplanted onto real vocabularies (`--targets`, each in turn) and exported per weight type. For each file:

  converter  llama.cpp's `convert_hf_to_gguf.py` (benchmarks/llamacpp_convert.py) on the same folder: are the
             keys and the tensors (names, shapes, types, bytes) the same?
  logits     `llama-debug --save-logits` at the last position of each prompt, against transformers on the same
             ids: the largest difference over the whole vocabulary and every prompt, relative to the largest
             logit; once as transformers computes (`-fa off -ctk f32 -ctv f32`) and once with llama.cpp's
             defaults (flash attention, float16 K/V cache)
  rounding   what the type alone does: transformers with the weights the file holds, read back by its GGUF
             reader (f16 and q8_0 dequantized), against transformers with the folder's; and llama.cpp (as
             transformers computes) against transformers with the file's weights
  greedy     `llama-simple` (llama.cpp's defaults) against transformers' greedy continuation: tokens that agree
             before the two part, summed over the prompts and the fewest on one prompt, and transformers'
             margin between its two best tokens where they part

The logits are the measure of the export. A random model's are nearly flat (margins of 1e-5 between its two best
tokens are common, and exactly 0 between two ids a transplant gave the same row), so llama-simple, whose
defaults keep K and V in float16, parts from transformers' greedy path wherever a margin is below that rounding.
The llama.cpp tools are built once into the cache.

    PYTHONPATH=. python benchmarks/llamacpp_architectures.py [--targets llamacpp:phi-3 ...] [--types f32 f16 q8_0]
        [--architectures llama llama3 ...] [--tokens 32] [--prompts 5] [--one-head] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from llamacpp_build import built_tool
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from builders import TINY_ARCHITECTURES, byte_level_bpe, tiny_model  # noqa: E402

from tokswap import transplant  # noqa: E402
from tokswap.byte_vocab import byte_vocab  # noqa: E402
from tokswap.cache import cache_dir  # noqa: E402
from tokswap.gguf.export import export_gguf  # noqa: E402
from tokswap.tokenizer_io import folder_tokenizer  # noqa: E402

# The five prompts bench-draft had built in when the figures in docs/export-gguf.md were measured.
PROMPTS = [
    "The three most important ideas in the history of science are",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Die Hauptstadt von Deutschland ist Berlin. Sie ist bekannt für",
    "Here is a short recipe for pancakes:\n1.",
    "Question: What is 17 times 23?\nAnswer:",
]
EXACT = ["-fa", "off", "-ctk", "f32", "-ctv", "f32"]


class Float16Gelu(torch.nn.Module):
    """GELU as ggml's CPU backend computes it: looked up in a float16 table (GGML_GELU_FP16 in ggml-cpu/vec.h)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.gelu(x.half().float(), approximate="tanh").half().float()
        return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, y))


@dataclass
class Row:
    target: str
    architecture: str
    tied: bool
    type: str
    converter: str
    logits_exact: float
    logits_file: float | None  # None: transformers' GGUF reader does not read this architecture back
    logits_rounding: float | None
    logits_gelu16: float | None
    logits_default: float
    greedy: int
    greedy_of: int
    greedy_fewest: int
    split_margins: list[float]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr.decode(errors='replace')[-3000:]}")
    return done


def _gguf_contents(path: Path) -> tuple[dict, dict]:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    keys = {k: f.contents() for k, f in reader.fields.items() if not k.startswith(("GGUF.", "general.", "tokenizer."))}
    tensors = {t.name: (tuple(int(n) for n in t.shape), t.tensor_type.name, bytes(np.asarray(t.data).tobytes())) for t in reader.tensors}
    return keys, tensors


def _same(ours, theirs) -> bool:
    """Equal, floats to float32's precision (a GGUF stores them as float32)."""
    if isinstance(ours, float) and isinstance(theirs, float):
        return bool(np.isclose(ours, theirs, rtol=1e-7))
    return ours == theirs


def same_as_converter(ours: Path, theirs: Path) -> str:
    """"same" or the first difference between two files' keys and tensors (the vocabulary left aside)."""
    (our_keys, our_tensors), (their_keys, their_tensors) = _gguf_contents(ours), _gguf_contents(theirs)
    for key in sorted(set(our_keys) | set(their_keys)):
        if not _same(our_keys.get(key), their_keys.get(key)):
            return f"key {key}: {our_keys.get(key)} vs {their_keys.get(key)}"
    for name in sorted(set(our_tensors) | set(their_tensors)):
        if name not in our_tensors or name not in their_tensors:
            return f"tensor {name} only in {'tokswap' if name in our_tensors else 'the converter'}'s"
        if our_tensors[name][:2] != their_tensors[name][:2]:
            return f"tensor {name}: {our_tensors[name][:2]} vs {their_tensors[name][:2]}"
        if our_tensors[name][2] != their_tensors[name][2]:
            return f"tensor {name}: other bytes"
    return f"same ({len(our_keys)} keys, {len(our_tensors)} tensors)"


def llamacpp_logits(gguf: Path, prompt: str, flags: list[str], work: Path) -> tuple[list[int], np.ndarray]:
    """llama.cpp's ids for `prompt` and its logits after the last one."""
    _run([str(built_tool("llama-debug")), "-m", str(gguf), "-p", prompt, "--save-logits", "--logits-output-dir", str(work), *flags])
    ids = np.fromfile(work / f"llamacpp-{gguf.stem}-tokens.bin", dtype=np.int32).tolist()
    return ids, np.fromfile(work / f"llamacpp-{gguf.stem}.bin", dtype=np.float32).astype(np.float64)


def greedy_agreement(model, pieces: list[bytes], ends: set[int], ids: list[int], output: bytes, tokens: int) -> tuple[int, int, float | None]:
    """Tokens of transformers' greedy continuation that `llama-simple` printed too, of how many, and transformers'
    margin between its best two tokens where the two part (None when they agree throughout). The comparison is
    of printed text, which does not show token boundaries: "!" then "!!" prints as "!!!" does, so a split shows
    up to one token late and the margin is the smaller of that step's and the one before. llama-simple stops at
    an end-of-generation token without printing it."""
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=tokens, do_sample=False, output_logits=True, return_dict_in_generate=True)
    generated = out.sequences[0, len(ids) :].tolist()
    text = b"".join(pieces[i] for i in ids)
    for step, token in enumerate(generated):
        if token in ends and output == text + b"\n":
            return step + 1, step + 1, None
        if not output.startswith(text + pieces[token]):
            margins = [float(top[0] - top[1]) for top in (torch.topk(out.logits[i][0].double(), 2).values for i in range(max(0, step - 1), step + 1))]
            return step, len(generated), min(margins)
        text += pieces[token]
    return len(generated), len(generated), None


def _pieces(tokenizer) -> list[bytes]:
    """Each token as llama-simple prints it: its bytes, special tokens as their text, up to a NUL byte (it
    prints with printf's %s, so `<0x00>` prints nothing)."""
    vocab = byte_vocab(tokenizer)
    texts = tokenizer.convert_ids_to_tokens(range(len(vocab)))
    pieces = [data if data is not None and not special else str(text).encode() for data, special, text in zip(vocab.token_bytes, vocab.special, texts)]
    return [piece.split(b"\0")[0] for piece in pieces]


def with_float16_gelu(model):
    """The model with ggml's float16 GELU, or None when it has no GELU."""
    if getattr(model.config.get_text_config(), "hidden_activation", None) != "gelu_pytorch_tanh":
        return None
    table = copy.deepcopy(model)
    for module in table.modules():
        if hasattr(module, "act_fn"):
            module.act_fn = Float16Gelu()
    return table


def _with_file_weights(model, gguf: Path):
    """A copy of `model` holding the weights `gguf` holds, as transformers' GGUF reader gives them back; None
    where that reader does not know the architecture (it reads Qwen3's, Granite's, ... shapes wrongly)."""
    rounded = copy.deepcopy(model)
    try:
        rounded.load_state_dict(AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).state_dict())
    except (RuntimeError, ValueError, KeyError):
        return None
    return rounded


def _last_logits(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].double().numpy()


def measure(folder: Path, gguf: Path, kind: str, prompts: list[str], tokens: int, work: Path, threads: list[str]) -> dict:
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    # An f32 file holds the folder's weights: nothing to round, and reading it back costs transformers' whole
    # vocabulary parse (a minute on Gemma-3's).
    gelu16, rounded = with_float16_gelu(model), (None if kind == "f32" else _with_file_weights(model, gguf))
    tokenizer = folder_tokenizer(folder)
    pieces, ends = _pieces(tokenizer), set(byte_vocab(tokenizer).unproducible())
    exact = file = rounding = default = table = 0.0
    agreements, total = [], 0
    splits = []
    for prompt in prompts:
        ids, exact_logits = llamacpp_logits(gguf, prompt, EXACT + threads, work)
        _, default_logits = llamacpp_logits(gguf, prompt, threads, work)
        logits = _last_logits(model, ids)
        scale = np.abs(logits).max()
        exact = max(exact, np.abs(exact_logits[: len(logits)] - logits).max() / scale)
        if rounded is not None:
            file_logits = _last_logits(rounded, ids)
            file = max(file, np.abs(exact_logits[: len(logits)] - file_logits).max() / scale)
            rounding = max(rounding, np.abs(file_logits - logits).max() / scale)
        default = max(default, np.abs(default_logits[: len(logits)] - logits).max() / scale)
        if gelu16 is not None:
            table = max(table, np.abs(exact_logits[: len(logits)] - _last_logits(gelu16, ids)).max() / scale)
        if tokens:
            output = _run([str(built_tool("llama-simple")), "-m", str(gguf), "-n", str(tokens), prompt]).stdout
            agreed, of, margin = greedy_agreement(model, pieces, ends, ids, output, tokens)
            agreements, total = [*agreements, agreed], total + of
            splits += [] if margin is None else [margin]
    return {
        "logits_exact": float(exact),
        "logits_file": None if rounded is None else float(file),
        "logits_rounding": None if rounded is None else float(rounding),
        "logits_gelu16": None if gelu16 is None else float(table),
        "logits_default": float(default),
        "greedy": sum(agreements),
        "greedy_of": total,
        "greedy_fewest": min(agreements, default=0),
        "split_margins": splits,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=["llamacpp:phi-3"], help="the vocabularies the tiny models are transplanted onto, each in turn")
    parser.add_argument("--architectures", nargs="+", default=list(TINY_ARCHITECTURES), choices=list(TINY_ARCHITECTURES))
    parser.add_argument("--types", nargs="+", default=["f32", "f16", "q8_0"])
    parser.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt (0: no greedy run)")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help="how many of the prompts")
    parser.add_argument("--one-head", action="store_true", help="only the first head kind of each architecture (tied where it has one)")
    parser.add_argument("--threads", type=int, help="llama-debug's threads (default: its own; llama-simple takes no such flag)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llamacpp-architectures-") as name:
        work = Path(name)
        tokenizer = byte_level_bpe()
        files, jobs = {}, []
        for number, (target, arch) in enumerate((target, arch) for target in args.targets for arch in args.architectures):
            for tied in TINY_ARCHITECTURES[arch].heads[: 1 if args.one_head else None]:
                source = tiny_model(work / f"source-{arch}-{tied}", tokenizer, arch, tied=tied, seed=3)
                folder = work / f"{number}-{arch}-{tied}"
                transplant(str(source), target, folder)
                for kind in args.types:
                    # Named after the architecture: the name written is the file's, and llama.cpp must read the
                    # vocabulary the same whatever it is ("phi3" in a name once gave it Phi-3's token rules).
                    ours, theirs = work / f"{arch}{number}{tied:d}-{kind}.gguf", work / f"converted{number}{tied:d}-{kind}.gguf"
                    export_gguf(str(folder), ours, kind=kind)
                    files[target, arch, tied, kind] = folder, ours, theirs
                    jobs.append([str(folder), str(theirs), kind])
                print(f"exported {arch} tied={tied} onto {target}", file=sys.stderr, flush=True)
        (work / "jobs.json").write_text(json.dumps(jobs))
        source = cache_dir("llamacpp-build") / "source"
        built_tool("llama-simple")  # the sources are unpacked with the first tool built
        _run([sys.executable, str(Path(__file__).with_name("llamacpp_convert.py")), str(source), str(work / "jobs.json")])
        rows = []
        for (target, arch, tied, kind), (folder, ours, theirs) in files.items():
            figures = measure(folder, ours, kind, PROMPTS[: args.prompts], args.tokens, work, [] if args.threads is None else ["-t", str(args.threads)])
            rows.append(Row(target, arch, tied, kind, same_as_converter(ours, theirs), **figures))
            print(json.dumps(asdict(rows[-1])), file=sys.stderr, flush=True)
        if args.json:
            json.dump([asdict(row) for row in rows], sys.stdout, indent=2)
        else:
            print(table(rows))


def table(rows: list[Row]) -> str:
    lines = [
        "tiny models transplanted onto each target; logits: largest |llama.cpp - transformers| / largest |logit| over "
        "the vocabulary, last position of each prompt",
        f"{'target':18s} {'architecture':13s} {'head':6s} {'type':5s} {'exact':>8s} {'vs file':>8s} {'rounding':>8s} {'f16 GELU':>8s} {'defaults':>8s} "
        f"{'greedy':>8s} {'fewest':>6s} {'margins at splits':>18s}  converter",
    ]
    for r in rows:
        margins = ", ".join(f"{m:.0e}" for m in r.split_margins) or "-"
        gelu, file, rounding = ("-" if value is None else f"{value:.1e}" for value in (r.logits_gelu16, r.logits_file, r.logits_rounding))
        lines.append(
            f"{r.target:18s} {r.architecture:13s} {'tied' if r.tied else 'untied':6s} {r.type:5s} {r.logits_exact:8.1e} {file:>8s} {rounding:>8s} "
            f"{gelu:>8s} {r.logits_default:8.1e} {f'{r.greedy}/{r.greedy_of}':>8s} {r.greedy_fewest:6d} {margins:>18s}  {r.converter}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
