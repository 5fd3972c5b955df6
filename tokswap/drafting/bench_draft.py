"""`tokswap bench-draft`: the drafting yardstick. How much a drafter speeds up greedy decoding of its target,
what each side costs, whether the output changes, and what the same acceptance would give a larger target."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from ..checkpoint import embedding_rows, load_causal_lm
from ..contract import check_same_vocabulary
from ..loading import checked_specs, load_language_model
from ..tokenizer_io import load_tokenizer
from .draft_vocab_file import read_draft_vocab
from .hot_head import hot_rows, load_drafter
from .options import DraftSettings

DEFAULT_PROMPTS = [
    "The three most important ideas in the history of science are",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Die Hauptstadt von Deutschland ist Berlin. Sie ist bekannt für",
    "Here is a short recipe for pancakes:\n1.",
    "Question: What is 17 times 23?\nAnswer:",
]
PROJECTED_SCALES = (10, 100)


@dataclass(frozen=True)
class ModeResult:
    """One way of decoding every prompt. Drafted tokens are counted in the drafter's own vocabulary (UAG's
    drafter has another one); `target_step_seconds` is one target decoding step, from the target-alone mode."""

    mode: str
    new_tokens: int
    target_calls: int
    seconds: float
    identical_to_target: bool
    target_seconds: float
    drafted_tokens: int = 0
    drafter_seconds: float = 0.0
    head_rows: int | None = None
    target_step_seconds: float | None = None

    @property
    def tokens_per_target_call(self) -> float:
        return self.new_tokens / self.target_calls

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds

    @property
    def target_seconds_per_call(self) -> float:
        return self.target_seconds / self.target_calls

    @property
    def mean_accepted(self) -> float:
        """Draft tokens the target kept per call: every call adds one token of its own to what it accepts."""
        return max(self.new_tokens - self.target_calls, 0) / self.target_calls

    @property
    def drafted_per_call(self) -> float:
        return self.drafted_tokens / self.target_calls

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


def _run(mode: str, target, prompt_tokenizer, prompts: list[str], max_new_tokens: int, reference: list[list[int]] | None, assistant=None, **assist) -> tuple[ModeResult, list[list[int]]]:
    head = None if assistant is None else hot_rows(assistant) or assistant.get_output_embeddings().weight.shape[0]  # before UAG prunes it
    clock = ForwardClock(target)
    drafts = DraftClock(assistant) if assistant is not None else None
    outputs, seconds = [], 0.0
    try:
        for prompt in prompts:
            inputs = prompt_tokenizer(prompt, return_tensors="pt")
            start = time.perf_counter()
            with torch.no_grad():
                ids = target.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=prompt_tokenizer.pad_token_id, **({"assistant_model": assistant} if assistant is not None else {}), **assist)
            seconds += time.perf_counter() - start
            outputs.append(ids[0, inputs.input_ids.shape[1] :].tolist())
    finally:
        clock.close()
        if drafts is not None:
            drafts.close()
    identical = reference is None or outputs == reference
    drafted = {"drafted_tokens": drafts.tokens, "drafter_seconds": drafts.seconds, "head_rows": head} if drafts else {}
    return ModeResult(mode, sum(len(o) for o in outputs), clock.calls, seconds, identical, clock.seconds, **drafted), outputs


def _mode_names(drafters: list[str]) -> list[str]:
    return ["drafter"] if len(drafters) == 1 else [f"drafter:{d}" for d in drafters]


def bench_draft(
    target: str,
    drafters: list[str],
    uag: str | None = None,
    prompts: list[str] | None = None,
    max_new_tokens: int = 64,
    settings: DraftSettings | None = None,
    progress: Callable[[ModeResult], None] | None = None,
) -> list[ModeResult]:
    """Target alone, then the target with each drafter (same vocabulary; a folder's hot head is used when it
    has one), then optionally Universal Assisted Generation; drafters are loaded one at a time."""
    prompts = prompts or DEFAULT_PROMPTS
    settings = settings or DraftSettings()
    target_spec, *rest = checked_specs(target, *drafters, *([uag] if uag else []))
    drafter_specs, uag_specs = rest[: len(drafters)], rest[len(drafters) :]
    target_tokenizer = load_tokenizer(target_spec)
    rows = embedding_rows(target_spec, target_tokenizer)
    for spec in drafter_specs:  # every drafter checked before minutes of decoding
        drafter_tokenizer = load_tokenizer(spec)
        check_same_vocabulary(drafter_tokenizer, embedding_rows(spec, drafter_tokenizer), target_tokenizer, rows, spec.text)
        if spec.kind == "folder":
            read_draft_vocab(spec.path)
    target_model, tokenizer = load_causal_lm(target_spec), target_tokenizer
    results = []

    def done(result: ModeResult) -> None:
        results.append(result)
        if progress:
            progress(result)

    alone, reference = _run("target", target_model, tokenizer, prompts, max_new_tokens, None)
    done(alone)
    step = alone.target_seconds_per_call
    for mode, spec in zip(_mode_names(drafters), drafter_specs):
        drafter = load_drafter(spec).module
        settings.apply(drafter)
        done(replace(_run(mode, target_model, tokenizer, prompts, max_new_tokens, reference, drafter)[0], target_step_seconds=step))
        del drafter  # one drafter in memory at a time
    if uag_specs:
        original = load_language_model(uag_specs[0])
        settings.apply(original.module)
        result = _run("uag", target_model, tokenizer, prompts, max_new_tokens, reference, original.module, tokenizer=tokenizer, assistant_tokenizer=original.tokenizer)[0]
        done(replace(result, target_step_seconds=step))
    return results


def _cell(value: float | None, spec: str) -> str:
    """`value` formatted by `spec`, or a dash as wide."""
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))


def format_table(results: list[ModeResult]) -> str:
    width = max(8, *(len(r.mode) for r in results))
    header = f"{'mode':<{width}} {'head':>9} {'tokens':>6} {'calls':>5} {'tok/call':>8} {'acc/call':>8} {'accept':>6} {'draft ms/tok':>12} {'target ms/call':>14} {'cost':>5} {'seconds':>8} {'tok/s':>6} {'x10':>5} {'x100':>5} identical"
    lines = [header]
    for r in results:
        head = "-" if r.head_rows is None else f"{r.head_rows:,}"
        dms = None if r.drafter_seconds_per_token is None else 1000 * r.drafter_seconds_per_token
        lines.append(
            f"{r.mode:<{width}} {head:>9} {r.new_tokens:6d} {r.target_calls:5d} {r.tokens_per_target_call:8.2f} {r.mean_accepted:8.2f} "
            f"{_cell(r.acceptance, '6.1%')} {_cell(dms, '12.1f')} {1000 * r.target_seconds_per_call:14.1f} {_cell(r.cost_ratio, '5.2f')} "
            f"{r.seconds:8.2f} {r.tokens_per_second:6.2f} {_cell(r.projected_speedup(10), '5.2f')} {_cell(r.projected_speedup(100), '5.2f')} {r.identical_to_target}"
        )
    return "\n".join(lines)
