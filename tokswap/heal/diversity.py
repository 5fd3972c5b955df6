"""How varied the text written for a run was: a drafter trained on a few prompts repeated learns only them.

Each process logs the sequences its steps read that a model wrote (`written-{process}.jsonl` in the run's
hidden resume folder, one record a step; a resumed run writes its steps again and the last record counts).
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

WRITTEN_LOG = "written-{process}.jsonl"
SCRIPTS = ("LATIN", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "CYRILLIC", "ARABIC", "DEVANAGARI", "GREEK", "HEBREW", "THAI", "BENGALI")


@dataclass(frozen=True)
class Diversity:
    """Over the written tokens of every logged sequence: how many, the share of distinct n-grams (n = 1, 2, 4;
    1.0 when nothing repeats), the prompts' kinds and languages with their counts, and the writing systems
    of the written letters (share of letters)."""

    sequences: int
    written_tokens: int
    distinct: dict[str, float]
    distinct_prompts: int
    kinds: dict[str, int]
    languages: dict[str, int]
    scripts: dict[str, float]


def log_written(path: Path, step: int, rows: list) -> None:
    """Append one step's written sequences (`generation.Written`) to `path`."""
    record = {"step": step, "rows": [{"label": r.label, "start": r.start, "ids": r.ids} for r in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log:
        log.write(json.dumps(record, separators=(",", ":")) + "\n")


def _script(char: str) -> str | None:
    name = unicodedata.name(char, "")
    return next((s for s in SCRIPTS if name.startswith(s)), None)


def diversity(paths: list[Path], tokenizer) -> Diversity | None:
    """The figures over every step's last record in `paths`; None when no step read written text."""
    steps: dict[tuple[int, int], list[dict]] = {}
    for process, path in enumerate(paths):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            steps[process, record["step"]] = record["rows"]
    rows = [row for record in steps.values() for row in record]
    if not rows:
        return None
    written = [row["ids"][row["start"] :] for row in rows]
    grams = {n: [tuple(ids[i : i + n]) for ids in written for i in range(len(ids) - n + 1)] for n in (1, 2, 4)}
    prompts = {tuple(row["ids"][: row["start"]]) for row in rows}
    labels = [row["label"].split(":", 1)[-1] for row in rows]
    letters = Counter(_script(c) for ids in written for c in tokenizer.decode(ids) if c.isalpha())
    total = sum(letters.values()) or 1
    return Diversity(
        sequences=len(rows),
        written_tokens=sum(len(ids) for ids in written),
        distinct={f"{n}-grams": round(len(set(g)) / max(len(g), 1), 4) for n, g in grams.items()},
        distinct_prompts=len(prompts),
        kinds=dict(Counter(label.split("/")[0] for label in labels).most_common()),
        languages=dict(Counter(label.split("/", 1)[1] for label in labels if "/" in label).most_common()),
        scripts={script or "other": round(count / total, 4) for script, count in letters.most_common()},
    )
