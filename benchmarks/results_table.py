"""The README's results table: how well each method preserves SmolLM2-135M on Gemma-3's vocabulary (Gemma-3-270M as
`omp`'s donor), before and after `tokswap heal` toward the source, on the dev texts and the far texts (kinds of
text healing never trains on), beside SmolLM2 on its own tokenizer.

Each method transplants once (`hypernet` first trains its hypernetwork on `shared/corpus/train` for
`--hypernet-minutes`), heals for
`--heal-minutes` on one `shared/corpus/train` mix (every language but Japanese, as benchmarks/heal.py), and is
scored with `tokswap eval --window 512` on the first 8,000 characters of each text. Every phase is kept in
`--work` (one results file per method), so an interrupted run continues and several runs may share the folder,
e.g. one per core with `--methods`; the table prints what the folder holds.

    python benchmarks/results_table.py --work results/ [--methods subword tokenadapt omp hypernet]
        [--heal-minutes 15] [--hypernet-minutes 30]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heal import DOMAINS, FAR, ORIGINAL, SHARED, heal_until, scored, trained
from measure import measured_run

METHODS = ("subword", "tokenadapt", "omp", "hypernet")
TARGET = "gemma-3-270m"


def hypernetwork(work: Path, minutes: float) -> Path:
    """The hypernetwork for SmolLM2, trained (or resumed) until `minutes` in all."""
    folder = work / "hypernetwork"
    left = minutes - trained(folder, "minutes")
    if left > 0.05:
        measured_run(["tokswap", "hypernet", "train", ORIGINAL, "--data", str(SHARED / "train"), "-o", str(folder), "--minutes", f"{left:.2f}"])
    return folder


def transplanted(method: str, work: Path, hypernet_minutes: float) -> tuple[Path, dict]:
    out = work / method
    if not (out / "tokswap_report.json").is_file():
        flags = ["--hypernet", str(hypernetwork(work, hypernet_minutes))] if method == "hypernet" else []
        _, wall, peak = measured_run(["tokswap", "transplant", ORIGINAL, "--tokenizer", TARGET, "--method", method, *flags, "-o", str(out), "--force"])
        (work / f"{method}-cost.json").write_text(json.dumps({"seconds": round(wall, 1), "peak_gb": round(peak / 1e9, 2)}) + "\n")
    return out, json.loads((work / f"{method}-cost.json").read_text())


def measure(method: str, work: Path, heal_minutes: float, hypernet_minutes: float) -> dict:
    """The method's figures, kept in `work`/METHOD.json and resumed phase by phase."""
    path = work / f"{method}.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    start, results["transplant"] = transplanted(method, work, hypernet_minutes)
    if "start" not in results:
        results["start"] = scored({method: start}, work / "scored" / method)[method]
        path.write_text(json.dumps(results, indent=2) + "\n")
    if "healed" not in results:
        run = heal_until(start, work / f"{method}-healed", heal_minutes, "minutes", [])
        results["heal"] = {k: run[k] for k in ("steps", "tokens", "tokens_per_second", "wall_seconds")} if run else results.get("heal")
        results["healed"] = scored({method: work / f"{method}-healed"}, work / "scored" / f"{method}-healed")[method]
        path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def table(work: Path, heal_minutes: float, hypernet_minutes: float) -> str:
    """Markdown: SmolLM2 on its own tokenizer, each method measured in `work`, then each healed."""
    texts = DOMAINS + FAR
    original = work / "original.json"
    if not original.is_file():
        original.write_text(json.dumps(scored({ORIGINAL: Path(ORIGINAL)}, work / "scored" / "original")[ORIGINAL]) + "\n")
    rows = [("SmolLM2-135M, own tokenizer", json.loads(original.read_text()))]
    done = {m: json.loads((work / f"{m}.json").read_text()) for m in METHODS if (work / f"{m}.json").is_file()}
    rows += [(f"`{m}`" + (f" ({hypernet_minutes:g} min of training)" if m == "hypernet" else ""), r["start"]) for m, r in done.items()]
    rows += [(f"`{m}`, healed ({r['heal']['steps']} steps)", r["healed"]) for m, r in done.items() if "healed" in r]
    lines = ["| method | " + " | ".join(t if t in DOMAINS else f"far: {t}" for t in texts) + " |", "|---" * (len(texts) + 1) + "|"]
    best = {t: min(row[t] for _, row in rows[1:]) for t in texts} if len(rows) > 1 else {}
    for name, row in rows:
        lines.append(f"| {name} | " + " | ".join(f"**{row[t]:.3f}**" if name != rows[0][0] and row[t] == best[t] else f"{row[t]:.3f}" for t in texts) + " |")
    costs = [f"{m}: transplant {r['transplant']['seconds']} s (peak {r['transplant']['peak_gb']} GB)" + (f", heal {heal_minutes:g} min at {r['heal']['tokens_per_second']} tok/s" if r.get("heal") else "") for m, r in done.items()]
    return "\n".join(lines + [""] + costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--heal-minutes", type=float, default=15)
    parser.add_argument("--hypernet-minutes", type=float, default=30)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for method in args.methods:
        measure(method, args.work, args.heal_minutes, args.hypernet_minutes)
    print(table(args.work, args.heal_minutes, args.hypernet_minutes))


if __name__ == "__main__":
    main()
