"""Peak memory and wall time of `tokswap transplant` on a multi-GB sharded safetensors model.

tokswap promises that a safetensors source costs about its embedding matrices in memory, whatever the
model's size: only the embeddings are loaded, every other tensor is streamed shard to shard. This script
builds a synthetic Llama of `--gb` GB on disk (untied, so both matrices are exercised), two byte-level BPE
tokenizers trained offline, runs the real CLI in a child process, and reports the child's peak RSS next to
the model and embedding sizes. It then checks that the output is a valid checkpoint whose streamed tensors
are byte-identical to the source's.

    python benchmarks/scale_transplant.py --gb 4 [--json] [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import safetensors.torch
import torch
from measure import measured_run
from safetensors import safe_open
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

GB = 1e9
SPECIALS = ["<|endoftext|>", "<s>", "</s>"]
EMBEDDING_KEYS = ("model.embed_tokens.weight", "lm_head.weight")


@dataclass
class Figures:
    """What one run measured; sizes in GB of 1e9 bytes, peaks of the child process alone."""

    model_gb: float
    shards: int
    layers: int
    embeddings_gb: float
    embeddings_fp32_gb: float
    import_baseline_rss_gb: float
    peak_rss_gb: float
    peak_over_model: float
    wall_s: float
    tokswap_timings: dict
    counts: dict


# --- synthetic model ----------------------------------------------------------------------------------


def llama_config(layers: int, hidden: int, vocab: int, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    """A Llama-shaped config (MLP ratio and head size of common Llamas), untied so lm_head is its own tensor."""
    heads = hidden // 128
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=hidden * 11 // 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 4),
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.dtype = torch.bfloat16
    return config


def tensor_shapes(config: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of the architecture, from a meta-device model, so nothing is allocated."""
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def nbytes(shapes: dict[str, tuple[int, ...]], dtype: torch.dtype = torch.bfloat16) -> int:
    """Bytes those tensors take on disk."""
    return sum(torch.Size(shape).numel() for shape in shapes.values()) * dtype.itemsize


def layers_for(gb: float, hidden: int, vocab: int, tokenizer: PreTrainedTokenizerFast) -> int:
    """Decoder layers that bring the checkpoint closest to `gb`, from the measured size of one and two layers."""
    one, two = (nbytes(tensor_shapes(llama_config(n, hidden, vocab, tokenizer))) for n in (1, 2))
    per_layer, fixed = two - one, 2 * one - two
    return max(1, round((gb * GB - fixed) / per_layer))


def plan_shards(shapes: dict[str, tuple[int, ...]], shard_bytes: int) -> list[list[str]]:
    """Tensor names grouped in order into shards of at most `shard_bytes` (one bigger tensor gets its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        tensor_bytes = torch.Size(shape).numel() * torch.bfloat16.itemsize
        if shards[-1] and size + tensor_bytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += tensor_bytes
    return shards


def write_model(folder: Path, config: LlamaConfig, shard_bytes: int) -> list[list[str]]:
    """Random bfloat16 shards written one at a time, so only one shard is ever in this process's memory.

    Every tensor is distinct random data, so a misplaced byte range in the output cannot go unnoticed.
    """
    shapes = tensor_shapes(config)
    shards = plan_shards(shapes, shard_bytes)
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for file_name, tensor_names in zip(names, shards):
        tensors = {name: torch.empty(shapes[name], dtype=torch.bfloat16).normal_(std=0.02) for name in tensor_names}
        safetensors.torch.save_file(tensors, folder / file_name, metadata={"format": "pt"})
        del tensors
    weight_map = {name: file_name for file_name, tensor_names in zip(names, shards) for name in tensor_names}
    index = {"metadata": {"total_size": nbytes(shapes)}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config.save_pretrained(folder)
    return shards


# --- tokenizers ---------------------------------------------------------------------------------------


def package_text(package: str, budget_chars: int) -> Iterator[str]:
    """The installed package's .py files, in a fixed order, until about `budget_chars` characters: offline, reproducible text."""
    root = Path(__import__(package).__file__).parent
    used = 0
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        yield text
        used += len(text)
        if used >= budget_chars:
            return


def train_bpe(vocab_size: int, package: str, budget_chars: int) -> Tokenizer:
    """A GPT-2 style byte-level BPE; source and target learn from different packages so many target tokens are new."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(package_text(package, budget_chars), trainer)
    return tokenizer


def wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """A transformers tokenizer with bos/eos/pad roles, so the source folder looks like a real model's."""
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<|endoftext|>")


# --- measuring the child ------------------------------------------------------------------------------


def import_baseline() -> int:
    """Peak RSS of a child that only imports tokswap's pipeline, torch and transformers: the floor under any run."""
    probe = "import tokswap.pipeline, transformers.models.llama.modeling_llama"
    return measured_run([sys.executable, "-c", probe])[2]


# --- verification -------------------------------------------------------------------------------------


def expect(ok: bool, message: str) -> None:
    """A failed check ends the run (asserts would vanish under python -O)."""
    if not ok:
        sys.exit(f"verification failed: {message}")


def load_index(folder: Path) -> dict[str, str]:
    """The output's weight map, after checking every shard it names exists and holds exactly its tensors.

    tokswap writes a lone `model.safetensors` without an index when everything fits one group (small --gb).
    """
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        with safe_open(folder / "model.safetensors", framework="pt") as fh:
            return dict.fromkeys(fh.keys(), "model.safetensors")
    weight_map = json.loads(index.read_text())["weight_map"]
    for file_name in set(weight_map.values()):
        with safe_open(folder / file_name, framework="pt") as fh:
            listed = {name for name, f in weight_map.items() if f == file_name}
            expect(set(fh.keys()) == listed, f"{file_name}: header and index disagree")
    return weight_map


def read_tensor(folder: Path, weight_map: dict[str, str], name: str) -> torch.Tensor:
    with safe_open(folder / weight_map[name], framework="pt") as fh:
        return fh.get_tensor(name)


def verify(source: Path, out: Path, target_len: int, hidden: int, spot_checks: int) -> None:
    """Same tensor names, byte-identical streamed tensors (spot-checked), embeddings resized to the target."""
    src_map = json.loads((source / "model.safetensors.index.json").read_text())["weight_map"]
    out_map = load_index(out)
    expect(set(out_map) == set(src_map), f"tensor names differ: {sorted(set(out_map) ^ set(src_map))[:5]}")
    streamed = sorted(set(src_map) - set(EMBEDDING_KEYS))
    picks = [streamed[0], streamed[-1], *random.Random(0).sample(streamed, min(spot_checks, len(streamed)))]
    for name in dict.fromkeys(picks):
        a, b = read_tensor(source, src_map, name), read_tensor(out, out_map, name)
        expect(a.dtype == b.dtype and a.shape == b.shape, f"{name}: {a.dtype}{tuple(a.shape)} != {b.dtype}{tuple(b.shape)}")
        expect(torch.equal(a.view(torch.uint8), b.view(torch.uint8)), f"{name}: bytes differ")
    for name in EMBEDDING_KEYS:
        matrix = read_tensor(out, out_map, name)
        expect(matrix.shape == (target_len, hidden), f"{name}: shape {tuple(matrix.shape)}")
        expect(bool(torch.isfinite(matrix.float()).all()), f"{name}: not finite")
    vocab_size = json.loads((out / "config.json").read_text())["vocab_size"]
    expect(vocab_size == target_len, f"config vocab_size {vocab_size} != target tokenizer length {target_len}")


# --- driver -------------------------------------------------------------------------------------------


def build_inputs(args: argparse.Namespace, work: Path) -> tuple[Path, Path, LlamaConfig, list[list[str]]]:
    """Source folder (model + tokenizer) and target tokenizer.json under `work`."""
    source, target = work / "source", work / "target"
    source.mkdir()
    target.mkdir()
    budget = int(args.corpus_mb * 1e6)
    source_tokenizer = wrap(train_bpe(args.source_vocab, "transformers", budget))
    if len(source_tokenizer) > args.vocab:
        sys.exit(f"source tokenizer has {len(source_tokenizer)} tokens, more than the model's {args.vocab} rows")
    source_tokenizer.save_pretrained(source)
    train_bpe(args.target_vocab, "torch", budget).save(str(target / "tokenizer.json"))
    layers = layers_for(args.gb, args.hidden, args.vocab, source_tokenizer)
    config = llama_config(layers, args.hidden, args.vocab, source_tokenizer)
    shards = write_model(source, config, int(args.shard_gb * GB))
    return source, target / "tokenizer.json", config, shards


def run_benchmark(args: argparse.Namespace, work: Path) -> Figures:
    """Build, transplant in a measured child, verify, and collect the figures."""
    source, target, config, shards = build_inputs(args, work)
    out = work / "out"
    command = [sys.executable, "-m", "tokswap.cli", "transplant", str(source), "--tokenizer", str(target), "-o", str(out), "--method", args.method]
    baseline = import_baseline()
    result, wall, peak = measured_run(command)
    target_len = len(PreTrainedTokenizerFast(tokenizer_file=str(target)))
    verify(source, out, target_len, config.hidden_size, args.spot_checks)
    shapes = tensor_shapes(config)
    model_bytes = sum(path.stat().st_size for path in source.glob("*.safetensors"))
    embedding_bytes = nbytes({name: shapes[name] for name in EMBEDDING_KEYS})
    report = json.loads(result.stdout)
    return Figures(
        model_gb=round(model_bytes / GB, 3),
        shards=len(shards),
        layers=config.num_hidden_layers,
        embeddings_gb=round(embedding_bytes / GB, 3),
        embeddings_fp32_gb=round(embedding_bytes * 2 / GB, 3),
        import_baseline_rss_gb=round(baseline / GB, 3),
        peak_rss_gb=round(peak / GB, 3),
        peak_over_model=round(peak / model_bytes, 3),
        wall_s=round(wall, 1),
        tokswap_timings=report.get("timings", {}),
        counts=report.get("counts", {}),
    )


def print_figures(figures: Figures) -> None:
    print(f"model on disk        {figures.model_gb:8.3f} GB  ({figures.layers} layers, {figures.shards} shards, bfloat16)")
    print(f"embedding matrices   {figures.embeddings_gb:8.3f} GB  (input + output; {figures.embeddings_fp32_gb:.3f} GB as float32)")
    print(f"import baseline RSS  {figures.import_baseline_rss_gb:8.3f} GB  (python + torch + transformers + tokswap)")
    print(f"peak RSS             {figures.peak_rss_gb:8.3f} GB")
    print(f"peak / model size    {figures.peak_over_model:8.3f}")
    print(f"wall time            {figures.wall_s:8.1f} s   (tokswap steps: {figures.tokswap_timings})")
    print(f"alignment counts     {figures.counts}")
    print("verified: index, byte-identical streamed tensors (spot-checked), embedding shapes, config vocab_size")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=4.0, help="approximate model size on disk in GB (default 4)")
    parser.add_argument("--hidden", type=int, default=2048, help="hidden size, a multiple of 128 (default 2048)")
    parser.add_argument("--vocab", type=int, default=32000, help="model embedding rows (default 32000)")
    parser.add_argument("--shard-gb", type=float, default=1.0, help="largest shard in GB (default 1)")
    parser.add_argument("--source-vocab", type=int, default=32000, help="source BPE vocabulary, at most --vocab (default 32000)")
    parser.add_argument("--target-vocab", type=int, default=8000, help="target BPE vocabulary (default 8000)")
    parser.add_argument("--corpus-mb", type=float, default=8.0, help="training text per tokenizer in millions of characters (default 8)")
    parser.add_argument("--method", default="subword", help="tokswap --method (default subword)")
    parser.add_argument("--spot-checks", type=int, default=8, help="random streamed tensors compared byte for byte (default 8)")
    parser.add_argument("--workdir", type=Path, help="folder for the model and output (default: a new folder under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    return parser.parse_args(argv)


def make_workdir(requested: Path | None) -> Path:
    """A fresh folder: the one asked for must be empty or absent, since everything in it is deleted afterwards."""
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="tokswap-scale-", dir="/tmp"))
    if requested.exists() and any(requested.iterdir()):
        sys.exit(f"--workdir {requested} is not empty")
    requested.mkdir(parents=True, exist_ok=True)
    return requested


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = make_workdir(args.workdir)
    try:
        figures = run_benchmark(args, work)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
    else:
        print_figures(figures)


if __name__ == "__main__":
    main()
