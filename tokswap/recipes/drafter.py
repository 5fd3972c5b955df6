"""`tokswap drafter`: a drafter for TARGET from SOURCE in one command, with no corpus, measured before it is
handed over.

The stages are the commands a user would run by hand, through their Python API: `transplant` SOURCE onto
TARGET's vocabulary, `heal` it toward TARGET on TARGET's own answers to requests (the built-in bank of tasks
and languages, `--prompts`, windows of `--data`), `draft-vocab` and `export-gguf` when asked for, then
`bench-draft` on the built-in prompts, which no stage trained on: the drafter beside the untrained transplant
and beside Universal Assisted Generation with SOURCE itself. Those two baselines are measured right after the
transplant, and the time they took sizes the final measurement, so training gets what is left of `--minutes`
once everything else is accounted for. Each stage's result is kept in OUT's hidden
`.stages/` with the minutes it took, so running the command again resumes at the stage it stopped in (the
training within its run, as `heal` resumes); OUT receives the model only when every stage is done.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import check_weights, load_checkpoint
from ..drafting.prompts import BUILT_IN_PROMPTS, Prompt, categories, file_prompts
from ..errors import TokswapError
from ..gguf.architectures import check_exportable
from ..gguf.vocab import llamacpp_pre
from ..loading import checked_specs
from ..methods import method_names
from ..model_card import report_json, write_model_card
from ..output_folder import check_destination
from ..report import REPORT_FILE
from ..staging import published_file
from ..texts import read_text_file, text_paths
from ..tokenizer_io import load_tokenizer
from ..training.loop import TRAINER_FILE
from .drafter_options import MIN_TRAINING_MINUTES, TAIL_SHARE, DrafterOptions

STAGES_DIR = ".stages"
PROGRESS_FILE = "progress.json"
STAGES = ("transplant", "baselines", "heal", "draft-vocab", "export-gguf", "measure")


@dataclass
class DrafterReport:
    output: str
    gguf: str | None
    minutes: dict[str, float]
    held_out: dict[str, dict]
    written: dict | None


def held_out_prompts(given: list[Prompt]) -> list[Prompt]:
    """The first built-in prompt of each category, unless a training prompt repeats it: one per category
    keeps the measurement to minutes."""
    trained = {p.text.strip() for p in given}
    left = [p for p in BUILT_IN_PROMPTS if p.text.strip() not in trained]
    return [next(p for p in left if p.category == c) for c in categories(left)]


def training_minutes(budget: float, spent: float, baseline_minutes: float, uag_seconds: float, tail: bool) -> float:
    """What the budget leaves for training. The final measurement decodes as the baselines did, without UAG,
    so it is expected to take their minutes less UAG's; export and the hot vocabulary (`tail`) get
    `TAIL_SHARE` of the budget."""
    measuring = baseline_minutes - uag_seconds / 60
    return round(max(budget - spent - measuring - (TAIL_SHARE * budget if tail else 0.0), MIN_TRAINING_MINUTES), 2)


class Progress:
    """Which stages are done and the minutes each took, kept in `.stages/progress.json` across invocations;
    one line on stderr per stage, with the time the run has left."""

    def __init__(self, folder: Path, budget: float):
        self.path, self.budget = folder / PROGRESS_FILE, budget
        self.state = json.loads(self.path.read_text()) if self.path.is_file() else {"minutes": {}, "done": [], "heal_minutes": None}

    def spent(self) -> float:
        return sum(self.state["minutes"].values())

    def done(self, stage: str) -> bool:
        return stage in self.state["done"]

    def run(self, stage: str, work):
        """`work()` timed and added to the stage's minutes (`finish` marks the stage done)."""
        number = STAGES.index(stage) + 1
        print(f"tokswap drafter: stage {number}/{len(STAGES)}, {stage} ({max(self.budget - self.spent(), 0):.1f} of {self.budget:g} min left)", file=sys.stderr)
        start = time.perf_counter()
        try:
            return work()
        finally:
            self.state["minutes"][stage] = round(self.state["minutes"].get(stage, 0.0) + (time.perf_counter() - start) / 60, 2)
            self.save()

    def finish(self, stage: str) -> None:
        self.state["done"].append(stage)
        self.save()

    def save(self) -> None:
        with published_file(self.path) as staging:
            staging.write_text(json.dumps(self.state, indent=2) + "\n")


def _check_output(out: Path, force: bool) -> None:
    """A folder holding an unfinished run is resumed; anything else is checked as every output folder is."""
    if out.is_dir() and (out / REPORT_FILE).is_file() and "drafter" in report_json(out) and not force:
        raise TokswapError(f"{out} already holds a finished drafter; pass --force to build it again")
    if not (out / STAGES_DIR).is_dir():
        check_destination(out, force)


def _checked(target: str, source: str, out: Path, options: DrafterOptions, prompts: list[str], data: list[str], force: bool) -> tuple[list[Prompt], bool]:
    """Every input checked before a stage runs: the given prompts, and whether TARGET is a GGUF."""
    _check_output(out, force)
    if options.method not in method_names():
        raise TokswapError(f"unknown method {options.method!r}; choose one of: {', '.join(method_names())}")
    target_spec, source_spec = checked_specs(target, source)
    for spec in (target_spec, source_spec):
        check_weights(spec)
        load_tokenizer(spec)
    if options.gguf or target_spec.kind == "gguf":
        check_exportable(load_checkpoint(source_spec).config, source)
        if target_spec.kind != "gguf":
            llamacpp_pre(load_tokenizer(target_spec), target)
    given = file_prompts(text_paths(prompts))
    for path in text_paths(data):
        read_text_file(path)
    if not held_out_prompts(given):
        raise TokswapError("--prompts holds every built-in prompt: nothing is left to measure the drafter on")
    return given, target_spec.kind == "gguf"


def drafter(target: str, source: str, out: str | Path, options: DrafterOptions | None = None, *, prompts: list[str] | None = None, data: list[str] | None = None, force: bool = False) -> DrafterReport:
    """Build (or resume) a drafter for `target` from `source` in `out`, and measure it on held-out prompts."""
    from ..drafting.bench_draft import bench_draft
    from ..drafting.draft_vocab import build_hot_drafters
    from ..drafting.options import DraftSettings
    from ..gguf.export import export_gguf
    from ..heal.options import HealOptions
    from ..heal.train import heal
    from ..pipeline import transplant

    options = options or DrafterOptions()
    out, prompts, data = Path(out), prompts or [], data or []
    given, gguf_target = _checked(target, source, out, options, prompts, data, force)
    if force and out.is_dir() and not (out / STAGES_DIR).is_dir():
        shutil.rmtree(out)
    stages = out / STAGES_DIR
    stages.mkdir(parents=True, exist_ok=True)
    progress = Progress(stages, options.minutes)
    moved, healed, hot = stages / "transplant", stages / "heal", stages / "hot"
    gguf_kind = options.gguf or ("q8_0" if gguf_target else None)
    gguf = stages / f"{out.name}-{gguf_kind}.gguf" if gguf_kind else None

    if not progress.done("transplant"):
        progress.run("transplant", lambda: transplant(source, target, moved, method=options.method, force=True))
        progress.finish("transplant")
    settings = DraftSettings(draft_tokens=options.draft_tokens, confidence_threshold=0.0)
    held = held_out_prompts(given)

    def measured(stage: str, drafters: list[str], uag: str | None) -> dict:
        """bench-draft's figures on the held-out prompts, by mode, kept in `.stages/STAGE.json`."""
        kept = stages / f"{stage}.json"
        if not progress.done(stage):

            def shown(run) -> None:
                print(f"tokswap drafter: {stage}, prompt {run.prompt + 1}/{len(held)} ({run.category}), {run.mode}: " + (f"failed: {run.error}" if run.error else f"{run.seconds:.1f} s"), file=sys.stderr)

            report = progress.run(stage, lambda: bench_draft(target, drafters, uag, held, options.measure_tokens, settings, shown))
            kept.write_text(json.dumps(report.to_json(), indent=2) + "\n")
            progress.finish(stage)
        return json.loads(kept.read_text())

    baselines = measured("baselines", [str(moved)], source)
    if not progress.done("heal"):
        if progress.state["heal_minutes"] is None:
            tail = gguf is not None or options.hot_vocab is not None
            progress.state["heal_minutes"] = training_minutes(options.minutes, progress.spent(), progress.state["minutes"]["baselines"], baselines["uag"]["seconds"], tail)
            if progress.state["heal_minutes"] == MIN_TRAINING_MINUTES:
                print(f"tokswap drafter: measuring alone takes most of {options.minutes:g} min; training gets the {MIN_TRAINING_MINUTES:g}-minute minimum, so the run will take longer", file=sys.stderr)
        trained = json.loads((healed / TRAINER_FILE).read_text())["seconds"] / 60 if (healed / TRAINER_FILE).is_file() else 0.0
        left = progress.state["heal_minutes"] - trained
        if left > 0.05:
            heal_options = HealOptions(minutes=left, teacher=target)
            if progress.run("heal", lambda: heal(str(moved), data or None, healed, heal_options, prompts or None)) is None:
                raise TokswapError("the training stopped before its budget; run the same command again to resume")
        progress.finish("heal")
    model = healed
    if options.hot_vocab is not None:
        if not progress.done("draft-vocab"):
            progress.run("draft-vocab", lambda: build_hot_drafters(str(healed), target, data or None, [options.hot_vocab], hot, force=True))
            progress.finish("draft-vocab")
        model = hot
    if gguf is not None and not progress.done("export-gguf"):
        progress.run("export-gguf", lambda: export_gguf(str(model), gguf, kind=gguf_kind, force=True))
        progress.finish("export-gguf")
    final = measured("measure", [str(model)], None)
    figures = {"target alone": final["target"], "drafter": final["drafter"], "untrained transplant": baselines["drafter"], "UAG (SOURCE as drafter)": baselines["uag"]}
    return _publish(out, model, gguf, figures, progress, target, options)


def _publish(out: Path, model: Path, gguf: Path | None, figures: dict, progress: Progress, target: str, options: DrafterOptions) -> DrafterReport:
    """The model, its GGUF and the report with a `drafter` section moved into OUT; `.stages/` goes last.
    `figures`: bench-draft's figures by what each mode is here."""
    report = report_json(model)
    kept = ("tokens_per_target_call", "acceptance", "identical_to_target", "prompts", "failed")
    held_out = {mode: {**{k: f[k] for k in kept}, "categories": {c: row["tokens_per_target_call"] for c, row in f["categories"].items()}} for mode, f in figures.items()}
    section = {
        "target": target,
        "minutes": progress.state["minutes"],
        "budget_minutes": options.minutes,
        "gguf": gguf.name if gguf else None,
        "held_out": held_out,
        "settings": {"draft_tokens": options.draft_tokens, "max_new_tokens": options.measure_tokens},
    }
    report["drafter"] = section
    report.setdefault("measured", {})["bench_draft"] = {"target": target, "prompts": "held-out built-in", "modes": [{**f, "mode": m} for m, f in figures.items()]}
    for item in sorted(model.iterdir()):
        if not item.name.startswith("."):
            shutil.copytree(item, out / item.name, dirs_exist_ok=True) if item.is_dir() else shutil.copy2(item, out / item.name)
    if gguf is not None:
        shutil.copy2(gguf, out / gguf.name)
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    write_model_card(out, report, out.name)
    shutil.rmtree(out / STAGES_DIR)
    return DrafterReport(str(out), str(out / gguf.name) if gguf else None, section["minutes"], section["held_out"], report.get("heal", {}).get("written"))
