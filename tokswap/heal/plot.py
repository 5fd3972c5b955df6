"""The loss curve of a run, drawn from its `log.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path


def moving_average(values: list[float], span: int) -> list[float]:
    return [sum(values[max(0, i - span + 1) : i + 1]) / len(values[max(0, i - span + 1) : i + 1]) for i in range(len(values))]


def plot_log(log: Path, out: Path, title: str) -> None:
    """Every figure the steps logged (besides counts, and besides one equal to the loss at every step), one
    panel each against the step: each step's value and a moving average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in log.read_text().splitlines()]
    if not records:
        return
    floats = [k for k, v in records[-1].items() if isinstance(v, float) and k != "seconds"]
    names = [k for k in floats if k == "loss" or any(r[k] != r["loss"] for r in records)]
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), sharex=True, squeeze=False)
    steps = [r["step"] for r in records]
    span = max(1, len(records) // 20)
    for ax, name in zip(axes[:, 0], names):
        values = [r[name] for r in records]
        ax.plot(steps, values, linewidth=0.6, alpha=0.35)
        ax.plot(steps, moving_average(values, span), linewidth=1.2, label=f"moving average ({span} steps)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
