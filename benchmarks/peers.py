"""mergekit's `tokensurgeon` beside tokswap on one pair (default: SmolLM2-135M onto Gemma-3's vocabulary, Gemma-3-270M
as the donor mergekit needs): bits per byte on dev and far text, wall time and peak memory of each transplant.

mergekit is installed by this script, pinned, into its own environment (`--venv`, default under the tokswap
cache) with this environment's torch, so its dependencies never touch tokswap's. It runs on the packaged models'
cached float32 folders (the GGUFs dequantized once by tokswap), each given its tokenizer. Its `subword` and
`common_interpolation` run whole; its `omp` (exhaustive, k = 64) takes hours on a CPU for all new rows, so it
codes the new tokens the scored text uses and fills every other new row with its own `subword` (`--omp-all`
codes every row, for a GPU or a long night); its time for all rows is extrapolated from its measured pace.

    python benchmarks/peers.py [--omp-all] [--json]

Scored as benchmarks/heal.py scores (`heal.scored`): `tokswap eval --window 512` on the first 8,000 characters
of each `shared/corpus/dev` and `far` text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from heal import DOMAINS, FAR, SHARED, scored
from measure import measured_run

from tokswap.cache import cache_root
from tokswap.checkpoint import readable
from tokswap.specs import resolve
from tokswap.tokenizer_io import load_tokenizer, save_tokenizer

MERGEKIT = "mergekit==0.1.5"
GB = 1e9
CHARS = 8000  # what `heal.scored` reads of each text: the new tokens mergekit's omp codes are those it uses
SOME_BY_OMP = r"""
import json, sys, time
import torch
import mergekit.scripts.tokensurgeon as surgeon

keep = set(json.load(open(sys.argv.pop(1))))
computed = surgeon.compute_new_embeddings
tally = {"omp_rows": 0, "subword_rows": 0, "omp_seconds": 0.0}


def some_by_omp(orig_embed, donor_embed, orig_vocab, donor_vocab, target_tokens, is_lm_head, token_basis, orig_tokenizer, options):
    out = torch.empty(len(target_tokens), orig_embed.shape[1], dtype=orig_embed.dtype)
    used = [i for i, t in enumerate(target_tokens) if donor_vocab[t] in keep]
    rest = [i for i, t in enumerate(target_tokens) if donor_vocab[t] not in keep]
    subword = options.model_copy(update={"method": surgeon.ApproximationMethod.SUBWORD})
    for rows, chosen, name in ((used, options, "omp"), (rest, subword, "subword")):
        if rows:
            start = time.perf_counter()
            out[rows] = computed(orig_embed, donor_embed, orig_vocab, donor_vocab, [target_tokens[i] for i in rows], is_lm_head, token_basis, orig_tokenizer, chosen)
            tally[f"{name}_rows"] += len(rows)
            tally["omp_seconds"] += time.perf_counter() - start if name == "omp" else 0.0
    return out


surgeon.compute_new_embeddings = some_by_omp
try:
    surgeon.main()
finally:
    print("TALLY " + json.dumps(tally), file=sys.stderr)
"""


def mergekit_env(venv: Path) -> list[str]:
    """How to run the environment's python (without this one's PYTHONPATH), after installing mergekit (pinned)
    and this environment's torch on first use."""
    python = ["env", "-u", "PYTHONPATH", str(venv / "bin" / "python")]
    if not (venv / "bin" / "mergekit-tokensurgeon").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        torch_pin = f"torch=={torch.__version__.split('+')[0]}"
        subprocess.run([*python, "-m", "pip", "install", "-q", torch_pin, MERGEKIT], check=True)
    return python


def hf_folder(text: str, work: Path) -> Path:
    """A model spec as the plain folder mergekit reads: its (cached) weights and config, and its tokenizer."""
    spec = resolve(text)
    weights = readable(spec).path
    folder = work / "inputs" / re.sub(r"\W", "_", text)
    folder.mkdir(parents=True, exist_ok=True)
    for path in weights.iterdir():
        if not (folder / path.name).exists():
            (folder / path.name).symlink_to(path.resolve())
    save_tokenizer(load_tokenizer(spec), spec, folder)
    return folder


def used_ids(target: str) -> list[int]:
    """The target's ids in the scored part of every dev and far text."""
    tokenizer = load_tokenizer(resolve(target))
    texts = [(SHARED / split / f"{d}.txt").read_text()[:CHARS] for split, domains in (("dev", DOMAINS), ("far", FAR)) for d in domains]
    return sorted({i for text in texts for i in tokenizer(text, add_special_tokens=False).input_ids})


def timed(command: list[str], out: Path) -> dict:
    """Wall time and peak memory, and the target rows copied from the source: tokswap's report, or mergekit's
    "Exact matches" (the rest it approximates)."""
    result, wall, peak = measured_run(command)
    figures = {"seconds": round(wall, 1), "peak_gb": round(peak / GB, 2)}
    report = out / "tokswap_report.json"
    if report.is_file():
        counts = json.loads(report.read_text())["counts"]
        return figures | {"copied": counts["shared"] + counts["fallback_twins"] + counts["special_mapped"]}
    exact = re.search(r"Exact matches: (\d+)", result.stderr)
    tally = next((json.loads(line[6:]) for line in result.stderr.splitlines() if line.startswith("TALLY ")), None)
    if tally and tally["omp_rows"]:
        every = tally["omp_rows"] + tally["subword_rows"]
        figures |= {**tally, "omp_seconds_all_rows": round(tally["omp_seconds"] / tally["omp_rows"] * every)}
    return figures | {"copied": int(exact.group(1)) if exact else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="smollm2-135m")
    parser.add_argument("--target", default="gemma-3-270m", help="the target tokenizer, and mergekit's donor")
    parser.add_argument("--venv", type=Path, default=cache_root() / "peers" / MERGEKIT.replace("==", "-"))
    parser.add_argument("--omp-all", action="store_true", help="mergekit's omp on every new row (hours on a CPU)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    python = mergekit_env(args.venv)
    surgeon = [*python, "-c", "import sys; from mergekit.scripts.tokensurgeon import main; sys.exit(main())"]
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        work = Path(tmp)
        keep = work / "used-ids.json"
        keep.write_text(json.dumps(used_ids(args.target)))
        source, donor = hf_folder(args.source, work), hf_folder(args.target, work)
        runs: dict[str, tuple[list[str], Path]] = {}
        for method in ("subword", "omp"):
            out = work / f"tokswap-{method}"
            runs[f"tokswap {method}"] = (["tokswap", "transplant", args.source, "--tokenizer", args.target, "--method", method, "-o", str(out)], out)
        for method in ("subword", "common_interpolation"):
            out = work / f"mergekit-{method}"
            runs[f"mergekit {method}"] = ([*surgeon, str(source), str(donor), str(out), "-a", method, "-v"], out)
        out = work / "mergekit-omp"
        runs["mergekit omp" + ("" if args.omp_all else " (text's tokens)")] = (
            [*surgeon, str(source), str(donor), str(out), "-a", "omp", "-v"] if args.omp_all else [*python, "-c", SOME_BY_OMP, str(keep), str(source), str(donor), str(out), "-a", "omp", "-v"],
            out,
        )
        figures: dict[str, dict] = {}
        for name, (command, out) in runs.items():
            figures[name] = timed(command, out)
            print(f"{name}: {figures[name]}", file=sys.stderr)
        outputs = {"source, own tokenizer": resolve(args.source).path, **{name: out for name, (_, out) in runs.items()}}
        bpb = scored(outputs, work / "scored")
    if args.json:
        print(json.dumps({"bits_per_byte": bpb, "cost": figures}, indent=2))
        return
    columns = DOMAINS + FAR
    print("| transplant | " + " | ".join(c if c in DOMAINS else f"far: {c}" for c in columns) + " | rows copied | seconds | peak GB |")
    print("|---" * (len(columns) + 4) + "|")
    for name, row in bpb.items():
        cost = figures.get(name, {})
        print(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + "".join(f" | {cost.get(k, '')}" for k in ("copied", "seconds", "peak_gb")) + " |")
    for name, cost in figures.items():
        if "omp_seconds_all_rows" in cost:
            print(f"\n{name}: {cost['omp_rows']} rows coded in {cost['omp_seconds']:.0f} s; every new row ({cost['omp_rows'] + cost['subword_rows']}) at that pace: {cost['omp_seconds_all_rows'] / 3600:.1f} h")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
