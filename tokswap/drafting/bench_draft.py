"""`tokswap bench-draft`: the drafting yardstick. How much a drafter speeds up decoding of its target, what
each side costs, whether the output changes, and what the same acceptance would give a larger target.

Every mode's model is loaded first; then each prompt is decoded by every mode in turn, the order rotated from
one prompt to the next, so a machine that slows through a run favours no mode. A mode that fails on a prompt
is recorded as failed there and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from ..checkpoint import embedding_rows, load_causal_lm
from ..contract import check_same_vocabulary
from ..errors import first_line
from ..loading import checked_specs, load_language_model
from ..model_card import is_tokswap_folder, report_json
from ..tokenizer_io import load_tokenizer
from .draft_vocab_file import read_draft_vocab
from .hot_head import hot_rows, load_drafter
from .options import DraftSettings
from .prompts import BUILT_IN_PROMPTS, Prompt, categories

PROJECTED_SCALES = (10, 100)
SAMPLING_NOTE = (
    "sampled at temperature {t:g}, each prompt seeded with its index (a rerun on this machine repeats every output): "
    "outputs differ from the target alone's by chance, so 'identical' does not apply. Same-vocabulary drafters are "
    "verified by speculative sampling, lossless in distribution. UAG's re-tokenized drafts carry no distribution "
    "to verify, so UAG is lossless for greedy decoding only; at T > 0 transformers runs Universal Speculative "
    "Decoding in its place, whose drafter may propose only the tokens both vocabularies spell alike."
)


@dataclass(frozen=True)
class PromptRun:
    """One mode on one prompt, as the target's forward hook and the drafter's clock counted it; a failed run
    has its error's first line and no output."""

    mode: str
    prompt: int
    category: str
    new_tokens: int = 0
    target_calls: int = 0
    seconds: float = 0.0
    target_seconds: float = 0.0
    drafted_tokens: int = 0
    drafter_seconds: float = 0.0
    output: tuple[int, ...] | None = None
    error: str | None = None


@dataclass(frozen=True)
class ModeResult:
    """One way of decoding, over the prompts it did not fail on. Drafted tokens are counted in the drafter's own
    vocabulary (UAG's drafter has another one); `target_step_seconds` is one target decoding step, from the
    target-alone mode; `identical_to_target` is None when sampling, where outputs differ by chance."""

    mode: str
    new_tokens: int
    target_calls: int
    seconds: float
    identical_to_target: bool | None
    target_seconds: float
    drafted_tokens: int = 0
    drafter_seconds: float = 0.0
    head_rows: int | None = None
    target_step_seconds: float | None = None
    prompts: int = 0
    failed: int = 0

    @property
    def tokens_per_target_call(self) -> float | None:
        return self.new_tokens / self.target_calls if self.target_calls else None

    @property
    def tokens_per_second(self) -> float | None:
        return self.new_tokens / self.seconds if self.seconds else None

    @property
    def target_seconds_per_call(self) -> float | None:
        return self.target_seconds / self.target_calls if self.target_calls else None

    @property
    def mean_accepted(self) -> float | None:
        """Draft tokens the target kept per call: every call adds one token of its own to what it accepts."""
        return max(self.new_tokens - self.target_calls, 0) / self.target_calls if self.target_calls else None

    @property
    def drafted_per_call(self) -> float | None:
        return self.drafted_tokens / self.target_calls if self.target_calls else None

    @property
    def acceptance(self) -> float | None:
        return self.mean_accepted / self.drafted_per_call if self.drafted_tokens else None

    @property
    def drafter_seconds_per_token(self) -> float | None:
        return self.drafter_seconds / self.drafted_tokens if self.drafted_tokens else None

    @property
    def cost_ratio(self) -> float | None:
        """One drafted token's cost over one target decoding step (Leviathan et al.'s c)."""
        if self.drafter_seconds_per_token is None or not self.target_step_seconds:
            return None
        return self.drafter_seconds_per_token / self.target_step_seconds

    def projected_speedup(self, scale: float) -> float | None:
        """Leviathan et al.'s expected speed-up, E[tokens per call] / (γc + 1), with the measured tokens per call
        and draft length, for a target `scale` times as costly per step as this one."""
        if self.cost_ratio is None:
            return None
        return self.tokens_per_target_call / (self.drafted_per_call * self.cost_ratio / scale + 1)

    def to_json(self) -> dict:
        derived = ("tokens_per_target_call", "tokens_per_second", "target_seconds_per_call", "mean_accepted", "drafted_per_call", "acceptance", "drafter_seconds_per_token", "cost_ratio")
        projected = {f"projected_speedup_{scale}x": self.projected_speedup(scale) for scale in PROJECTED_SCALES}
        return {**asdict(self), **{name: getattr(self, name) for name in derived}, **projected}


@dataclass
class BenchReport:
    """Every mode over all prompts and per category (modes in the same order), and every failed run."""

    temperature: float
    modes: list[ModeResult]
    categories: dict[str, list[ModeResult]]
    failures: list[PromptRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """Mode → its figures, with `categories` (category → figures) and `errors` inside each."""
        out = {}
        for i, mode in enumerate(self.modes):
            errors = [{"prompt": f.prompt, "category": f.category, "error": f.error} for f in self.failures if f.mode == mode.mode]
            out[mode.mode] = {**mode.to_json(), "categories": {c: rows[i].to_json() for c, rows in self.categories.items()}, "errors": errors}
        return out


class ForwardClock:
    """Counts and times a module's forward passes through hooks, whoever calls them."""

    def __init__(self, module: torch.nn.Module):
        self.calls, self.seconds, self._start = 0, 0.0, 0.0
        self._hooks = [module.register_forward_pre_hook(self._begin), module.register_forward_hook(self._end)]

    def _begin(self, *_):
        self._start = time.perf_counter()

    def _end(self, *_):
        self.calls += 1
        self.seconds += time.perf_counter() - self._start

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()


class DraftClock:
    """Times an assistant's `generate` calls (all of drafting, loop included) and counts the tokens they draft."""

    def __init__(self, assistant: torch.nn.Module):
        self.tokens, self.seconds, self._assistant = 0, 0.0, assistant
        generate = assistant.generate

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = generate(*args, **kwargs)
            self.seconds += time.perf_counter() - start
            prompt = kwargs.get("input_ids", args[0] if args else None)
            self.tokens += out.sequences.shape[-1] - prompt.shape[-1]
            return out

        assistant.generate = timed

    def close(self) -> None:
        del self._assistant.generate


@dataclass
class Mode:
    """A way of decoding: the target alone, or the target with an assistant (and, for UAG, both tokenizers)."""

    name: str
    assistant: torch.nn.Module | None = None
    head_rows: int | None = None
    extra: dict = field(default_factory=dict)


def _decode(mode: Mode, target, tokenizer, clock: ForwardClock, prompt: Prompt, index: int, max_new_tokens: int, temperature: float) -> PromptRun:
    """`mode` on one prompt; any exception the generation raises makes this a failed run."""
    inputs = tokenizer(prompt.text, return_tensors="pt")
    calls, target_seconds = clock.calls, clock.seconds
    drafts = DraftClock(mode.assistant) if mode.assistant is not None else None
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    assist = {"assistant_model": mode.assistant, **mode.extra} if mode.assistant is not None else {}
    torch.manual_seed(index)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            ids = target.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling, **assist)
    except Exception as exc:  # noqa: BLE001 - a mode that fails on a prompt is reported, and the run goes on
        return PromptRun(mode.name, index, prompt.category, error=first_line(exc))
    finally:
        if drafts is not None:
            drafts.close()
    output = tuple(ids[0, inputs.input_ids.shape[1] :].tolist())
    drafted = {"drafted_tokens": drafts.tokens, "drafter_seconds": drafts.seconds} if drafts is not None else {}
    return PromptRun(mode.name, index, prompt.category, len(output), clock.calls - calls, time.perf_counter() - start, clock.seconds - target_seconds, output=output, **drafted)


def _summary(mode: Mode, runs: list[PromptRun], reference: dict[int, tuple[int, ...]] | None, step: float | None) -> ModeResult:
    """A mode's figures over `runs` (its runs on some prompts); `reference`: the target alone's outputs by
    prompt, None when sampling."""
    done = [r for r in runs if r.error is None]
    identical = None if reference is None else all(r.output == reference[r.prompt] for r in done if r.prompt in reference)
    return ModeResult(
        mode.name,
        sum(r.new_tokens for r in done),
        sum(r.target_calls for r in done),
        sum(r.seconds for r in done),
        identical,
        sum(r.target_seconds for r in done),
        drafted_tokens=sum(r.drafted_tokens for r in done),
        drafter_seconds=sum(r.drafter_seconds for r in done),
        head_rows=mode.head_rows,
        target_step_seconds=step if mode.assistant is not None else None,
        prompts=len(done),
        failed=len(runs) - len(done),
    )


def _modes(target_spec, drafter_specs, uag_spec, tokenizer, settings: DraftSettings) -> list[Mode]:
    """The target alone, each drafter (with its hot head when it has one), then UAG; every model loaded once."""
    modes = [Mode("target")]
    names = ["drafter"] if len(drafter_specs) == 1 else [f"drafter:{spec.text}" for spec in drafter_specs]
    for name, spec in zip(names, drafter_specs):
        drafter = load_drafter(spec).module
        settings.apply(drafter)
        modes.append(Mode(name, drafter, hot_rows(drafter) or drafter.get_output_embeddings().weight.shape[0]))
    if uag_spec is not None:
        original = load_language_model(uag_spec)
        settings.apply(original.module)
        head = original.module.get_output_embeddings().weight.shape[0]  # before UAG prunes it
        modes.append(Mode("uag", original.module, head, {"tokenizer": tokenizer, "assistant_tokenizer": original.tokenizer}))
    return modes


def _calibrated_on_built_in(spec) -> bool:
    """Whether a drafter folder's hot vocabulary was ranked by the target's continuations of the built-in prompts."""
    if spec.kind != "folder" or not is_tokswap_folder(spec.path):
        return False
    calibration = report_json(spec.path).get("draft_vocab", {}).get("calibration", {})
    return calibration.get("source") == "generated" and calibration.get("built_in", False)


def bench_draft(
    target: str,
    drafters: list[str],
    uag: str | None = None,
    prompts: list[Prompt] | None = None,
    max_new_tokens: int = 64,
    settings: DraftSettings | None = None,
    progress: Callable[[PromptRun], None] | None = None,
) -> BenchReport:
    """Each prompt decoded by the target alone, with each drafter (same vocabulary; a folder's hot head is used
    when it has one) and optionally with Universal Assisted Generation, modes interleaved per prompt."""
    from_built_in = prompts is None
    prompts = list(prompts or BUILT_IN_PROMPTS)
    settings = settings or DraftSettings()
    target_spec, *rest = checked_specs(target, *drafters, *([uag] if uag else []))
    drafter_specs, uag_specs = rest[: len(drafters)], rest[len(drafters) :]
    tokenizer = load_tokenizer(target_spec)
    rows = embedding_rows(target_spec, tokenizer)
    for spec in drafter_specs:  # every drafter checked before minutes of loading and decoding
        drafter_tokenizer = load_tokenizer(spec)
        check_same_vocabulary(drafter_tokenizer, embedding_rows(spec, drafter_tokenizer), tokenizer, rows, spec.text)
        if spec.kind == "folder":
            read_draft_vocab(spec.path)
    target_model = load_causal_lm(target_spec)
    modes = _modes(target_spec, drafter_specs, uag_specs[0] if uag_specs else None, tokenizer, settings)
    clock = ForwardClock(target_model)
    runs: list[PromptRun] = []
    try:
        for index, prompt in enumerate(prompts):
            turn = index % len(modes)
            for mode in modes[turn:] + modes[:turn]:
                runs.append(_decode(mode, target_model, tokenizer, clock, prompt, index, max_new_tokens, settings.temperature))
                if progress:
                    progress(runs[-1])
    finally:
        clock.close()
    greedy = settings.temperature == 0
    reference = {r.prompt: r.output for r in runs if r.mode == "target" and r.error is None} if greedy else None
    step = _summary(modes[0], [r for r in runs if r.mode == "target"], reference, None).target_seconds_per_call

    def summaries(category: str | None) -> list[ModeResult]:
        return [_summary(m, [r for r in runs if r.mode == m.name and category in (None, r.category)], reference, step) for m in modes]

    in_sample = [mode.name for mode, spec in zip(modes[1:], drafter_specs) if from_built_in and _calibrated_on_built_in(spec)]
    notes = [f"{name}: its hot vocabulary was ranked by the target's continuations of these built-in prompts, so its figures here are in-sample" for name in in_sample]
    return BenchReport(settings.temperature, summaries(None), {c: summaries(c) for c in categories(prompts)}, [r for r in runs if r.error is not None], notes)


def _cell(value: float | None, spec: str) -> str:
    """`value` formatted by `spec`, or a dash as wide."""
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))


def _identical(value: bool | None) -> str:
    return "n/a" if value is None else str(value)


def format_table(results: list[ModeResult]) -> str:
    width = max(8, *(len(r.mode) for r in results))
    header = f"{'mode':<{width}} {'head':>9} {'tokens':>6} {'calls':>5} {'tok/call':>8} {'acc/call':>8} {'accept':>6} {'draft ms/tok':>12} {'target ms/call':>14} {'cost':>5} {'seconds':>8} {'tok/s':>6} {'x10':>5} {'x100':>5} {'failed':>6} identical"
    lines = [header]
    for r in results:
        head = "-" if r.head_rows is None else f"{r.head_rows:,}"
        dms = None if r.drafter_seconds_per_token is None else 1000 * r.drafter_seconds_per_token
        tms = None if r.target_seconds_per_call is None else 1000 * r.target_seconds_per_call
        lines.append(
            f"{r.mode:<{width}} {head:>9} {r.new_tokens:6d} {r.target_calls:5d} {_cell(r.tokens_per_target_call, '8.2f')} {_cell(r.mean_accepted, '8.2f')} "
            f"{_cell(r.acceptance, '6.1%')} {_cell(dms, '12.1f')} {_cell(tms, '14.1f')} {_cell(r.cost_ratio, '5.2f')} "
            f"{r.seconds:8.2f} {_cell(r.tokens_per_second, '6.2f')} {_cell(r.projected_speedup(10), '5.2f')} {_cell(r.projected_speedup(100), '5.2f')} {r.failed:6d} {_identical(r.identical_to_target)}"
        )
    return "\n".join(lines)


def format_categories(report: BenchReport) -> str:
    """Per category and mode: prompts decoded, prompts failed, tokens per target call, acceptance, identical."""
    width = max(8, *(len(m.mode) for m in report.modes))
    cat_width = max(8, *(len(c) for c in report.categories))
    lines = [f"{'category':<{cat_width}} {'mode':<{width}} {'prompts':>7} {'failed':>6} {'tok/call':>8} {'accept':>6} identical"]
    for category, rows in report.categories.items():
        for r in rows:
            lines.append(f"{category:<{cat_width}} {r.mode:<{width}} {r.prompts:7d} {r.failed:6d} {_cell(r.tokens_per_target_call, '8.2f')} {_cell(r.acceptance, '6.1%')} {_identical(r.identical_to_target)}")
    return "\n".join(lines)


def format_report(report: BenchReport) -> str:
    """The overall table, the per-category one, and a note on sampling when the run sampled."""
    parts = [format_table(report.modes), format_categories(report)]
    if report.failures:
        parts.append("\n".join(f"failed: {f.mode} on prompt {f.prompt} ({f.category}): {f.error}" for f in report.failures))
    if report.temperature > 0:
        parts.append(SAMPLING_NOTE.format(t=report.temperature))
    parts += [f"note: {note}" for note in report.notes]
    return "\n\n".join(parts)
