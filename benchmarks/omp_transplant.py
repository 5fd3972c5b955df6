"""`omp` at full vocabulary scale: end-to-end time and memory, the fast path's residual gap, the k / candidates / rounds
trade-off, and bits per byte next to `subword`.

Runs the real CLI on SmolLM2-135M → Gemma-3 (262,144 tokens, donor Gemma-3-270M) in child processes, then
codes a random sample of new tokens both ways (candidates vs every shared atom) on exactly the problem the
method solves, and scores both outputs with `tokswap eval` on the dev texts.

    python benchmarks/omp_transplant.py [--data ../shared/corpus/dev] [--chars 8000] [--window 512] [--sample 2000] [--grid] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from measure import bits_per_byte, measured_run, print_bits_per_byte

from tokswap.alignment import align
from tokswap.loading import load_donor, load_target
from tokswap.omp.method import Omp
from tokswap.omp.pursuit import sparse_codes

GB = 1e9
GRID = [(64, 128, 1), (64, 64, 2), (64, 64, 3), (64, 128, 3), (64, 64, 5), (64, 256, 8), (32, 64, 3), (16, 64, 2)]


def transplant(args: argparse.Namespace, method: str, out: Path) -> dict:
    command = ["tokswap", "transplant", args.source, "--tokenizer", args.target, "--method", method, "-o", str(out), "--force"]
    _, wall, peak = measured_run(command)
    report = json.loads((out / "tokswap_report.json").read_text())
    return {"seconds": round(wall, 1), "peak_gb": round(peak / GB, 2), "timings": report["timings"], "counts": report["counts"]}


def relative_residual(queries: torch.Tensor, atoms: torch.Tensor, codes) -> float:
    return codes.relative_residuals(queries, atoms).mean().item()


def residual_gap(args: argparse.Namespace) -> dict:
    """Mean donor-space relative residual of the fast path and of exhaustive OMP on the same sampled tokens."""
    source, target = load_target(args.source), load_target(args.target)
    donor = load_donor(target.spec, target).input
    plan = align(source.vocab, target.vocab, source.rows, target.rows)
    rows = random.Random(args.seed).sample([r for r in plan.new if r < len(donor)], args.sample)
    method = Omp()
    queries, atoms = method.problem(donor, plan, rows)
    timed = {}
    configs = [(method.k, method.candidates, method.rounds)] + (GRID if args.grid else [])
    for k in sorted({k for k, _, _ in configs}):
        start = time.perf_counter()
        exact = relative_residual(queries, atoms, sparse_codes(queries, atoms, k, None, batch_size=64, progress=False, ridge=method.ridge))
        timed[(k, None, 1)] = (exact, time.perf_counter() - start)
    for k, count, rounds in configs:
        start = time.perf_counter()
        codes = sparse_codes(queries, atoms, k, count, method.probes, method.batch_size, progress=False, rounds=rounds, ridge=method.ridge)
        timed[(k, count, rounds)] = (relative_residual(queries, atoms, codes), time.perf_counter() - start)
    table = []
    for (k, count, rounds), (residual, seconds) in timed.items():
        exact = timed[(k, None, 1)][0]
        row = {"k": k, "candidates": count or "all", "rounds": rounds, "residual": round(residual, 4), "gap_pct": round(100 * (residual / exact - 1), 2)}
        table.append(row | {"ms_per_token": round(1000 * seconds / len(rows), 2)})
    return {"sampled_tokens": len(rows), "probes": method.probes, "ridge": method.ridge, "table": table}


def print_figures(figures: dict) -> None:
    for method, run in figures["transplant"].items():
        print(f"{method:8s} end to end {run['seconds']:6.1f} s, peak {run['peak_gb']:.2f} GB, steps {run['timings']}")
    gap = figures["residual"]
    search = "exact search" if gap["probes"] is None else f"probes {gap['probes']}"
    print(f"\nresidual on {gap['sampled_tokens']} sampled new tokens ({search}, ridge {gap['ridge']}; ms/token includes any index build):")
    print(f"{'k':>4} {'cand':>6} {'rounds':>6} {'residual':>9} {'gap %':>7} {'ms/token':>9}")
    for row in gap["table"]:
        print(f"{row['k']:>4} {row['candidates']!s:>6} {row['rounds']:>6} {row['residual']:9.4f} {row['gap_pct']:7.2f} {row['ms_per_token']:9.2f}")
    print_bits_per_byte(figures["bits_per_byte"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="smollm2-135m")
    parser.add_argument("--target", default="gemma-3-270m")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"))
    parser.add_argument("--domains", nargs="+", default=["en", "code", "de", "fr", "zh"])
    parser.add_argument("--chars", type=int, default=8000, help="characters of each dev text to score")
    parser.add_argument("--window", type=int, default=512, help="tokens per scoring window (the README's tables use 512)")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="also measure the k / candidates / rounds grid")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        sys.exit(f"{args.data}: no such folder (pass --data)")
    with tempfile.TemporaryDirectory() as work:
        outputs = {method: Path(work) / method for method in ("omp", "subword")}
        figures = {"transplant": {method: transplant(args, method, out) for method, out in outputs.items()}}
        figures["residual"] = residual_gap(args)
        figures["bits_per_byte"] = bits_per_byte(outputs, Path(args.data), args.domains, args.chars, Path(work), args.window)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print_figures(figures)


if __name__ == "__main__":
    main()
