"""The `README.md` model card of an output folder, in the Hub's format, written from its report alone.

`eval` and `bench-draft` add what they measure on a tokswap folder to its report (`measured`), and the card is
rewritten from it, so the card never says anything the report does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .demo import HUB_ORIGINS
from .report import REPORT_FILE
from .staging import published_file

CARD = "README.md"
TAGS = ("tokswap", "speculative-decoding", "tokenizer-transplant")


def report_json(folder: Path) -> dict:
    return json.loads((folder / REPORT_FILE).read_text())


def is_tokswap_folder(path: str | Path) -> bool:
    return (Path(path) / REPORT_FILE).is_file()


def _hub_id(spec: str | None) -> str | None:
    """The hub repository a spec names or came from, None for local files."""
    if spec in HUB_ORIGINS:
        return HUB_ORIGINS[spec]
    if spec and spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and not Path(spec).exists():
        return spec
    return None


def _front_matter(report: dict) -> list[str]:
    lines = ["---"]
    base = _hub_id(report["source"])
    if base:
        lines.append(f"base_model: {base}")
    lines += ["library_name: transformers", "pipeline_tag: text-generation", "tags:", *(f"- {tag}" for tag in TAGS), "---"]
    return lines


def _what_was_done(report: dict) -> list[str]:
    options = ", ".join(f"{k}={v}" for k, v in report["method_options"].items()) or "defaults"
    counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in report["counts"].items())
    rows = [
        ("source model", f"`{report['source']}` ({report['source_rows']:,} embedding rows)"),
        ("target tokenizer", f"`{report['target']}` ({report['target_rows']:,} rows)"),
        ("method", f"`{report['method']}` ({options})"),
        *([("donor", f"`{report['donor']}`")] if report.get("donor") else []),
        ("rows", counts),
        ("weights", f"{report['dtype']}, {'tied' if report['tied'] else 'untied'} embeddings"),
        ("made with", ", ".join(f"{k} {v}" for k, v in report["versions"].items())),
        *([("hot vocabulary", _hot_vocabulary(report["draft_vocab"]))] if "draft_vocab" in report else []),
        *([("healed", _healed(report["heal"]))] if "heal" in report else []),
        *([("text it learned on", _written(report["heal"]["written"]))] if report.get("heal", {}).get("written") else []),
        *([("built by", _built(report["drafter"]))] if "drafter" in report else []),
    ]
    return ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def _hot_vocabulary(section: dict) -> str:
    coverage = ", ".join(f"{share:.1%} of the {name} calibration tokens" for name, share in section["coverage"].items())
    categories = ", ".join(f"{name} {share:.1%}" for name, share in section.get("category_coverage", {}).items())
    return (
        f"{section['keep']:,} of {section['target_rows']:,} target tokens in `{section['file']}` (EAGLE-3 `d2t`/`t2d`), "
        f"ranked by {section['calibration']['source']} calibration; they cover {coverage}"
        + (f"; of the target's generated tokens per prompt category: {categories}" if categories else "")
    )


def _written(section: dict) -> str:
    kinds = ", ".join(f"{k} {v:,}" for k, v in section["kinds"].items())
    return (
        f"{section['sequences']:,} sequences written by a model ({section['written_tokens']:,} tokens, {section['distinct_prompts']:,} distinct prompts: {kinds}; "
        f"{len(section['languages'])} languages requested); distinct 4-grams {section['distinct']['4-grams']:.1%}"
    )


def _built(section: dict) -> str:
    minutes = ", ".join(f"{stage} {m:.1f}" for stage, m in section["minutes"].items())
    return f"`tokswap drafter` for `{section['target']}` in {sum(section['minutes'].values()):.1f} min ({minutes}); measured on held-out built-in prompts below"


def _healed(section: dict) -> str:
    final = ", ".join(f"{k} {v:.4g}" for k, v in section["final"].items())
    return (
        f"`tokswap heal` toward {section['teacher']}, training `{section['train']}` ({section['trained_parameters']:,} parameters): "
        f"{section['steps']:,} steps, {section['tokens']:,} tokens, {section['minutes']:.1f} min; last steps: {final}"
    )


def _measured(report: dict) -> list[str]:
    measured = report.get("measured", {})
    if not measured:
        return ["Nothing measured yet: `tokswap eval` and `tokswap bench-draft` on this folder add their figures here."]
    lines = []
    if "eval" in measured:
        figures = measured["eval"]
        lines += [f"Bits per byte (`tokswap eval`, baseline `{figures.get('baseline')}`):", "", "| text | bits per byte | ratio to baseline |", "|---|---|---|"]
        for domain, row in figures["texts"].items():
            ratio = f"{row['bpb_ratio']:.3f}" if "bpb_ratio" in row else "-"
            lines.append(f"| {domain} | {row['bits_per_byte']:.4f} | {ratio} |")
        lines.append("")
    if "bench_draft" in measured:
        lines += _bench_draft(measured["bench_draft"])
    return lines


def _figure(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _bench_draft(figures: dict) -> list[str]:
    """The modes' tokens per target call overall, then per prompt category (reports from before categories
    have none)."""
    modes = figures["modes"]
    lines = [f"Speculative decoding (`tokswap bench-draft`, target `{figures['target']}`):", "", "| mode | tokens per target call | seconds | identical to target |", "|---|---|---|---|"]
    for mode in modes:
        identical = "n/a" if mode["identical_to_target"] is None else mode["identical_to_target"]
        lines.append(f"| {mode['mode']} | {_figure(mode['tokens_per_target_call'], '.2f')} | {mode['seconds']:.1f} | {identical} |")
    if all("categories" in mode for mode in modes):
        lines += ["", "Tokens per target call per prompt category (failed prompts in brackets):", "", "| category | " + " | ".join(m["mode"] for m in modes) + " |", "|---" * (len(modes) + 1) + "|"]
        for category in modes[0]["categories"]:
            cells = [m["categories"][category] for m in modes]
            lines.append(f"| {category} | " + " | ".join(_figure(c["tokens_per_target_call"], ".2f") + (f" ({c['failed']})" if c["failed"] else "") for c in cells) + " |")
    return lines


def _usage(report: dict, name: str) -> list[str]:
    target = _hub_id(report["target"]) or report["target"]
    hot = "draft_vocab" in report
    load = [f'drafter = load_drafter("{name}").module  # its output head computes only the hot vocabulary'] if hot else [f'drafter = AutoModelForCausalLM.from_pretrained("{name}")']
    return [
        "**transformers** (assisted generation; the vocabularies are identical, so no translation is needed):",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        *(["from tokswap import load_drafter"] if hot else []),
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{target}")',
        f'target = AutoModelForCausalLM.from_pretrained("{target}")',
        *load,
        'inputs = tokenizer("The quick brown fox", return_tensors="pt")',
        "print(tokenizer.decode(target.generate(**inputs, assistant_model=drafter, max_new_tokens=64)[0]))",
        "```",
        "",
        "**llama.cpp**: export a GGUF whose vocabulary is the target GGUF's, verbatim, and check it with llama.cpp's rule:",
        "",
        "```sh",
        f"tokswap export-gguf {name} -o drafter.gguf --vocab-from TARGET.gguf",
        "tokswap verify drafter.gguf --target TARGET.gguf",
        'llama-speculative-simple -m TARGET.gguf -md drafter.gguf --spec-type draft-simple -p "The quick brown fox"',
        "llama-server -m TARGET.gguf -md drafter.gguf",
        "```",
        "",
        "**vLLM** (draft-model speculative decoding):",
        "",
        "```python",
        "from vllm import LLM",
        "",
        f'llm = LLM(model="{target}", speculative_config={{"model": "{name}", "method": "draft_model", "num_speculative_tokens": 4}})',
        "```",
    ]


def model_card(report: dict, name: str) -> str:
    title = f"# {name}: `{report['source']}` speaking the vocabulary of `{report['target']}`"
    summary = (
        f"`{report['source']}` moved onto the tokenizer of `{report['target']}` by tokswap: "
        "shared tokens keep their embeddings, new ones were filled by the method below. The tokenizer files are the "
        "target's, so this model drafts for the target with no glue."
    )
    sections = [
        "\n".join(_front_matter(report)),
        title,
        summary,
        "## What was done\n\n" + "\n".join(_what_was_done(report)),
        "## Measured\n\n" + "\n".join(_measured(report)),
        "## Use as a drafter\n\n" + "\n".join(_usage(report, name)),
    ]
    return "\n\n".join(sections) + "\n"


def _replace(path: Path, text: str) -> None:
    with published_file(path) as staging:
        staging.write_text(text, encoding="utf-8")


def write_model_card(folder: Path, report: dict, name: str | None = None) -> None:
    _replace(folder / CARD, model_card(report, name or folder.name))


def update_report(folder: str | Path, update: Callable[[dict], None], name: str | None = None) -> None:
    """Change a tokswap folder's report in place and rewrite its card from it."""
    folder = Path(folder)
    report = report_json(folder)
    update(report)
    _replace(folder / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    write_model_card(folder, report, name)


def record_measurement(folder: str | Path, kind: str, figures: dict) -> None:
    """Add `figures` under `measured[kind]` in a tokswap folder's report and rewrite its card."""
    update_report(folder, lambda report: report.setdefault("measured", {}).__setitem__(kind, figures))
