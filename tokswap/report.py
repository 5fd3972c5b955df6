"""What `tokswap_report.json` records, so a result can be traced and compared later."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_PACKAGES = ("tokswap", "torch", "transformers", "tokenizers", "safetensors")
REPORT_FILE = "tokswap_report.json"


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass
class Stopwatch:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)


@dataclass
class TransplantReport:
    source: str
    target: str
    donor: str | None
    method: str
    method_options: dict
    dtype: str
    tied: bool
    source_rows: int
    target_rows: int
    counts: dict[str, int]
    timings: dict[str, float]
    versions: dict[str, str] = field(default_factory=package_versions)
    files: list[str] = field(default_factory=list)

    def write(self, folder: Path) -> None:
        (folder / REPORT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")
