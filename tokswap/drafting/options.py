"""Options of the drafting commands, declared once (see options.py): how `draft-vocab` calibrates, and the
assisted-generation knobs `bench-draft` sets on every drafter."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TokswapError
from ..options import Options, option

CALIBRATION_SOURCES = ("generated", "text")
SCHEDULES = ("constant", "heuristic", "heuristic_transient")


@dataclass
class CalibrationOptions(Options):
    source: str = option("generated", "rank target ids by the target's greedy continuations of the built-in prompts and of prompts cut from the calibration text (then by the probability it gave them, then text counts), or by the text alone", choices=CALIBRATION_SOURCES)
    built_in: bool = option(True, "leave out the built-in prompts (bench-draft's 25, in 12 categories and six languages): calibrate on the calibration text's prompts only")
    prompts: int = option(256, "prompts cut from the calibration text for `generated`", metavar="N")
    prompt_tokens: int = option(32, "tokens per prompt", metavar="N")
    new_tokens: int = option(64, "tokens the target generates after each prompt", metavar="N")
    batch_size: int = option(32, "prompts per target batch", metavar="N")

    def check(self) -> None:
        if self.source not in CALIBRATION_SOURCES:
            raise TokswapError(f"--source must be one of {', '.join(CALIBRATION_SOURCES)}")
        for name in ("prompts", "prompt_tokens", "new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise TokswapError(f"--{name.replace('_', '-')} must be >= 1")


@dataclass
class DraftSettings(Options):
    """transformers' assisted-generation knobs; None keeps transformers' default (20 tokens, constant, 0.4).
    `temperature` > 0 samples every mode, and same-vocabulary drafters are then verified by speculative sampling."""

    draft_tokens: int | None = option(None, "tokens drafted per round (transformers' num_assistant_tokens; default 20)", metavar="N")
    schedule: str | None = option(None, "how the draft length changes between rounds (default constant)", choices=SCHEDULES)
    confidence_threshold: float | None = option(None, "stop a draft when the drafter's probability falls below this; 0 never stops early (default 0.4, then adapted)", metavar="P")
    temperature: float = option(0.0, "sample at this temperature (speculative sampling, lossless in distribution for a same-vocabulary drafter); 0 decodes greedily", metavar="T")

    def check(self) -> None:
        if self.draft_tokens is not None and self.draft_tokens < 1:
            raise TokswapError("--draft-tokens must be >= 1")
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise TokswapError(f"--schedule must be one of {', '.join(SCHEDULES)}")
        if self.confidence_threshold is not None and not 0 <= self.confidence_threshold < 1:
            raise TokswapError("--confidence-threshold must be in [0, 1)")
        if not 0 <= self.temperature < float("inf"):
            raise TokswapError("--temperature must be a number >= 0")

    def apply(self, assistant) -> None:
        config = assistant.generation_config
        for name, value in (("num_assistant_tokens", self.draft_tokens), ("num_assistant_tokens_schedule", self.schedule), ("assistant_confidence_threshold", self.confidence_threshold)):
            if value is not None:
                setattr(config, name, value)
