"""`hypernet` on a CPU budget: train a hypernetwork for SmolLM2-135M, transplant to Gemma-3 with its snapshot
and final checkpoints, and score bits per byte next to `subword` on the same held-out text.

One run, read at two times: training stops at `--snapshot` minutes, the checkpoint is copied, and the same
run resumes to `--minutes` (training seconds exclude model loading). Prints training speed (steps/s, tokens/s),
the hypernetwork's parameter count and file size, the bits-per-byte table, and writes the loss curve as a PNG.
Phases already done in `--out` are skipped, so an interrupted benchmark continues.

    python benchmarks/hypernet_train.py --out hn-bench/ [--minutes 60] [--snapshot 10] [--train DIR] [--dev DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from measure import bits_per_byte, measured_run, print_bits_per_byte

from tokswap.heal.plot import moving_average
from tokswap.hypernet.model import WEIGHTS_FILE, load_hypernet
from tokswap.training.loop import LOG_FILE, TRAINER_FILE

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def trained_minutes(folder: Path) -> float:
    trainer = folder / TRAINER_FILE
    return json.loads(trainer.read_text())["seconds"] / 60 if trainer.is_file() else 0.0


def train_until(args: argparse.Namespace, folder: Path, minutes: float) -> None:
    """Resume (or start) the run in `folder` until it has trained `minutes` in all."""
    left = minutes - trained_minutes(folder)
    if left > 0.05:
        command = ["tokswap", "hypernet", "train", args.source, "--data", args.train, "-o", str(folder), "--minutes", f"{left:.2f}"]
        measured_run([*command, "--seed", str(args.seed), *args.train_args])


def curve(log: list[dict], snapshot: float, path: Path) -> None:
    """Loss per step against training minutes, with a moving average and the snapshot marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["seconds"] / 60 for r in log]
    losses = [r["lm"] for r in log]
    span = max(1, len(log) // 20)
    smooth = moving_average(losses, span)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(minutes, losses, alpha=0.3, label="LM loss per step")
    ax.plot(minutes, smooth, label=f"moving average ({span} steps)")
    ax.axvline(snapshot, color="grey", linestyle="--", label=f"snapshot ({snapshot:g} min)")
    ax.set_xlabel("training minutes (2-core CPU)")
    ax.set_ylabel("LM loss on the sampled tokenizer (nats/token)")
    ax.set_title("hypernetwork for SmolLM2-135M")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def speed(log: list[dict], until: float) -> dict:
    rows = [r for r in log if r["seconds"] <= until * 60 + 1e-6]
    seconds = rows[-1]["seconds"]
    return {"steps": len(rows), "minutes": round(seconds / 60, 2), "steps_per_s": round(len(rows) / seconds, 4), "tokens_per_s": round(sum(r["tokens"] for r in rows) / seconds, 1)}


def transplant(args: argparse.Namespace, out: Path, hypernet: Path | None) -> float:
    if not (out / "tokswap_report.json").is_file():
        method = ["--method", "hypernet", "--hypernet", str(hypernet)] if hypernet else ["--method", "subword"]
        _, wall, _ = measured_run(["tokswap", "transplant", args.source, "--tokenizer", args.target, *method, "-o", str(out), "--force"])
        return round(wall, 1)
    return json.loads((out / "tokswap_report.json").read_text())["timings"]["transplant"]


def print_figures(figures: dict) -> None:
    hn = figures["hypernetwork"]
    print(f"hypernetwork: {hn['parameters']:,} parameters, {hn['file_mb']} MB ({WEIGHTS_FILE})")
    for name, row in figures["speed"].items():
        print(f"{name}: {row['steps']} steps in {row['minutes']} min, {row['steps_per_s']} steps/s, {row['tokens_per_s']} tokens/s")
    print(f"loss curve: {figures['curve']}")
    print_bits_per_byte(figures["bits_per_byte"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="work folder (kept: checkpoints, drafters, curve)")
    parser.add_argument("--source", default="smollm2-135m")
    parser.add_argument("--target", default="gemma-3-270m")
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--snapshot", type=float, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", default=str(SHARED / "train"), help="folder of .txt training text")
    parser.add_argument("--dev", default=str(SHARED / "dev"), help="folder with DOMAIN.txt held-out texts")
    parser.add_argument("--domains", nargs="+", default=["en", "code", "de", "fr", "zh"])
    parser.add_argument("--chars", type=int, default=8000, help="characters of each dev text to score")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[], help="passed on to `tokswap hypernet train`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for folder in (args.train, args.dev):
        if not Path(folder).is_dir():
            sys.exit(f"{folder}: no such folder (pass --train / --dev)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run, early = out / "hn", out / f"hn-{args.snapshot:g}min"
    if not early.is_dir():
        train_until(args, run, args.snapshot)
        shutil.copytree(run, early)
    train_until(args, run, args.minutes)
    log = [json.loads(line) for line in (run / LOG_FILE).read_text().splitlines()]
    curve(log, args.snapshot, out / "hypernet_loss.png")
    outputs = {"subword": out / "drafter-subword", f"hypernet {args.snapshot:g} min": out / "drafter-early", f"hypernet {args.minutes:g} min": out / "drafter-final"}
    seconds = {name: transplant(args, path, hn) for (name, path), hn in zip(outputs.items(), (None, early, run))}
    figures = {
        "hypernetwork": {"parameters": sum(p.numel() for p in load_hypernet(run).parameters()), "file_mb": round((run / WEIGHTS_FILE).stat().st_size / 1e6, 2)},
        "speed": {f"first {args.snapshot:g} min": speed(log, args.snapshot), f"all {args.minutes:g} min": speed(log, args.minutes)},
        "curve": str(out / "hypernet_loss.png"),
        "transplant_seconds": seconds,
        "bits_per_byte": bits_per_byte(outputs, Path(args.dev), args.domains, args.chars, Path(args.out), args.window),
    }
    (out / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1) if args.json else "")
    if not args.json:
        print_figures(figures)


if __name__ == "__main__":
    main()
