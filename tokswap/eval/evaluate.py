"""`tokswap eval`: bits per byte and token perplexity of models on text files, with ratios to a baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import TokswapError
from ..loading import checked_specs, load_language_model
from ..specs import Spec
from ..texts import read_text_file, text_files
from .bits_per_byte import TextScore, score_text


@dataclass(frozen=True)
class FileResult:
    bits_per_byte: float
    token_perplexity: float
    tokens: int
    bytes: int
    bytes_per_token: float
    bpb_ratio: float | None = None
    ppl_ratio: float | None = None

    @classmethod
    def of(cls, score: TextScore, baseline: TextScore | None = None) -> FileResult:
        ratios = {}
        if baseline is not None:
            ratios = {
                "bpb_ratio": score.bits_per_byte / baseline.bits_per_byte,
                "ppl_ratio": score.token_perplexity / baseline.token_perplexity,
            }
        return cls(score.bits_per_byte, score.token_perplexity, score.tokens, score.bytes, score.bytes_per_token, **ratios)


@dataclass
class EvalReport:
    """results[model][domain]; the baseline, when given, is one of the models."""

    results: dict[str, dict[str, FileResult]]
    baseline: str | None = None

    def to_json(self) -> dict:
        return {
            "baseline": self.baseline,
            "models": {m: {d: {k: v for k, v in asdict(r).items() if v is not None} for d, r in files.items()} for m, files in self.results.items()},
        }


def score_model(spec: str | Spec, texts: dict[str, str], window: int | None = None) -> dict[str, TextScore]:
    model = load_language_model(spec)
    return {domain: score_text(model.module, model.tokenizer, text, window, progress=True) for domain, text in texts.items()}


def evaluate(models: list[str], data: list[str], baseline: str | None = None, window: int | None = None) -> EvalReport:
    if window is not None and window < 2:
        raise TokswapError("--window must be at least 2 tokens")
    texts = {domain: read_text_file(path) for domain, path in text_files(data).items()}
    names = list(dict.fromkeys([*([baseline] if baseline else []), *models]))
    specs = dict(zip(names, checked_specs(*names)))
    base = score_model(specs[baseline], texts, window) if baseline else None
    results = {}
    for spec in models:
        scores = base if spec == baseline else score_model(specs[spec], texts, window)
        results[spec] = {d: FileResult.of(s, base[d] if base else None) for d, s in scores.items()}
    if baseline and baseline not in results:
        results[baseline] = {d: FileResult.of(s, s) for d, s in base.items()}
    return EvalReport(results, baseline)


def format_table(report: EvalReport) -> str:
    header = f"{'model':<40} {'domain':<10} {'bpb':>7} {'tok ppl':>9} {'tokens':>8} {'B/tok':>6}"
    if report.baseline:
        header += f" {'bpb x':>7} {'ppl x':>7}"
    lines = [header]
    for model, files in report.results.items():
        for domain, r in files.items():
            line = f"{model[-40:]:<40} {domain:<10} {r.bits_per_byte:7.4f} {r.token_perplexity:9.3f} {r.tokens:8d} {r.bytes_per_token:6.2f}"
            if r.bpb_ratio is not None:
                line += f" {r.bpb_ratio:7.3f} {r.ppl_ratio:7.3f}"
            lines.append(line)
    return "\n".join(lines)


def plot(report: EvalReport, path: str) -> None:
    """Grouped bars: bits per byte per domain, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = list(next(iter(report.results.values())))
    width = 0.8 / len(report.results)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(domains) * len(report.results)), 4))
    for i, (model, files) in enumerate(report.results.items()):
        xs = [d + i * width for d in range(len(domains))]
        ax.bar(xs, [files[d].bits_per_byte for d in domains], width, label=Path(model).name or model)
    ax.set_xticks([d + 0.4 - width / 2 for d in range(len(domains))], domains)
    ax.set_ylabel("bits per byte (lower is better)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
