"""`tokswap bench-draft`: how much a drafter speeds up greedy decoding of its target, and whether it changes it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..contract import vocabulary_checks
from ..errors import TokswapError
from ..loading import checked_specs, load_language_model

DEFAULT_PROMPTS = [
    "The three most important ideas in the history of science are",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Die Hauptstadt von Deutschland ist Berlin. Sie ist bekannt für",
    "Here is a short recipe for pancakes:\n1.",
    "Question: What is 17 times 23?\nAnswer:",
]


@dataclass(frozen=True)
class ModeResult:
    mode: str
    new_tokens: int
    target_calls: int
    seconds: float
    identical_to_target: bool

    @property
    def tokens_per_target_call(self) -> float:
        return self.new_tokens / self.target_calls

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "new_tokens": self.new_tokens,
            "target_calls": self.target_calls,
            "tokens_per_target_call": self.tokens_per_target_call,
            "seconds": self.seconds,
            "tokens_per_second": self.tokens_per_second,
            "identical_to_target": self.identical_to_target,
        }


class CallCounter:
    """Counts forward passes of a module through a hook, whatever calls it."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        module.register_forward_hook(self._count)

    def _count(self, *_):
        self.calls += 1


def _run(mode: str, target, counter: CallCounter, prompt_tokenizer, prompts: list[str], max_new_tokens: int, reference: list[list[int]] | None, **assist) -> tuple[ModeResult, list[list[int]]]:
    counter_start, outputs, seconds = counter.calls, [], 0.0
    for prompt in prompts:
        inputs = prompt_tokenizer(prompt, return_tensors="pt")
        start = time.perf_counter()
        with torch.no_grad():
            ids = target.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=prompt_tokenizer.pad_token_id, **assist)
        seconds += time.perf_counter() - start
        outputs.append(ids[0, inputs.input_ids.shape[1] :].tolist())
    calls = counter.calls - counter_start
    identical = reference is None or outputs == reference
    return ModeResult(mode, sum(len(o) for o in outputs), calls, seconds, identical), outputs


def bench_draft(target: str, drafter: str, uag: str | None = None, prompts: list[str] | None = None, max_new_tokens: int = 64) -> list[ModeResult]:
    """Target alone, target with the drafter (same vocabulary), and optionally Universal Assisted Generation."""
    prompts = prompts or DEFAULT_PROMPTS
    target_spec, drafter_spec, *uag_spec = checked_specs(target, drafter, *([uag] if uag else []))
    target_lm, draft_lm = load_language_model(target_spec), load_language_model(drafter_spec)
    target_model, tokenizer = target_lm.module, target_lm.tokenizer
    rows = target_model.get_input_embeddings().weight.shape[0]
    failed = [c for c in vocabulary_checks(draft_lm.tokenizer, tokenizer, draft_lm.module.config.get_text_config().vocab_size, rows) if not c.ok]
    if failed:
        raise TokswapError(f"{drafter} does not share the target's vocabulary ({failed[0].name}: {failed[0].detail}); run tokswap verify")
    counter = CallCounter(target_model)
    alone, reference = _run("target", target_model, counter, tokenizer, prompts, max_new_tokens, None)
    results = [alone, _run("drafter", target_model, counter, tokenizer, prompts, max_new_tokens, reference, assistant_model=draft_lm.module)[0]]
    if uag:
        original = load_language_model(uag_spec[0])
        assist = {"assistant_model": original.module, "tokenizer": tokenizer, "assistant_tokenizer": original.tokenizer}
        results.append(_run("uag", target_model, counter, tokenizer, prompts, max_new_tokens, reference, **assist)[0])
    return results


def format_table(results: list[ModeResult]) -> str:
    lines = [f"{'mode':<8} {'tokens':>7} {'calls':>6} {'tok/call':>9} {'seconds':>8} {'tok/s':>7} identical"]
    for r in results:
        lines.append(f"{r.mode:<8} {r.new_tokens:7d} {r.target_calls:6d} {r.tokens_per_target_call:9.2f} {r.seconds:8.2f} {r.tokens_per_second:7.2f} {r.identical_to_target}")
    return "\n".join(lines)
