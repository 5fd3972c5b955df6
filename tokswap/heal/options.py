"""Options of `tokswap heal`, apart from the training stack so the command line checks them without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import TokswapError
from ..options import SCHEDULES, LoopOptions, option

SOURCE_TEACHER = "source"
TRAIN_MODES = ("new", "embeddings", "all")
PRECISIONS = ("auto", "float32", "bfloat16")
DEFAULT_GENERATED = 0.5  # share of the windows the teacher writes, with a model teacher (measured: docs/heal.md)
BODY_LR = {"source": 5e-5, "model": 2e-4}  # toward the source a faster body drifts on far text; toward a model teacher it keeps learning (docs/figures/heal.md)


@dataclass
class HealOptions(LoopOptions):
    """`teacher` left unset is `source` for a transplant folder (`train.resolved_options`)."""

    resumable: ClassVar[tuple[str, ...]] = (*LoopOptions.resumable, "teacher_cache_gb")

    schedule: str = option("inverse-sqrt", "learning rate after the warm-up: constant, or falling as the inverse square root of the step (keeps far text from drifting)", choices=SCHEDULES)
    teacher: str | None = option(
        None, "`source`: the model a transplant folder came from, on its own tokenizer; or a model with MODEL's vocabulary (default: source)", metavar="source|SPEC"
    )
    train: str = option("all", "what trains: the rows the transplant filled, every embedding row, or every weight", choices=TRAIN_MODES)
    batch_size: int = option(4, "text windows per step")
    seq_len: int = option(128, "MODEL's tokens per window")
    body_lr: float | None = option(
        None, f"peak learning rate of the weights that are not embeddings (--train all; --lr is the embeddings'; default {BODY_LR['source']:g} toward the source, {BODY_LR['model']:g} toward a model teacher)", metavar="LR"
    )
    negatives: int = option(8192, "rows sampled into each step's softmax beside the batch's tokens and the teacher's top-k (0: every row)")
    ce_weight: float = option(0.0, "weight of plain next-token cross-entropy on MODEL's tokenization, added to the teacher's loss")
    generated: float | None = option(
        None, f"share of each step's windows that are the teacher's own continuations (of prompts cut from --data, or requests: --requests) (model teacher; default {DEFAULT_GENERATED} with --data, every window not --on-policy without, 0 toward the source)", metavar="F"
    )
    gen_temperature: float = option(0.0, "temperature the teacher continues prompts at (0: greedy)")
    requests: float | None = option(
        None,
        "share of the written continuations that answer requests (a built-in bank of tasks of every bench-draft category in thirty languages, and --prompts) rather than continue windows of --data (model teacher; default 1 without --data, 0.5 with --data and --prompts, else 0)",
        metavar="F",
    )
    on_policy: float = option(0.0, "share of each step's windows that are MODEL's own continuations (of the prompts the teacher's start from), scored by the teacher (model teacher)", metavar="F")
    student_temperature: float = option(1.0, "temperature MODEL continues prompts at for --on-policy (0: greedy)")
    mismatch_weight: float = option(0.0, "extra weight of the positions where MODEL's most likely token is not the teacher's (model teacher): what a drafter's acceptance is lost on")
    hidden_weight: float = option(0.0, "weight of matching the source's final hidden state wherever both tokenizations have read the same bytes (source teacher)")
    top_k: int = option(32, "teacher probabilities kept per position, the rest as one mass (model teacher)")
    divergence: str = option("kl", "distance to the teacher's distribution: forward KL or total variation (model teacher)", choices=("kl", "tv"))
    teacher_cache_gb: float = option(2.0, "GB of teacher outputs kept in the cache for resumed and repeated runs (the least recently used go first; 0: none)")
    precision: str = option("auto", "what the student's and teacher's matrix products compute in; auto: bfloat16 where the device has fast bfloat16 (a GPU that supports it, a CPU with AVX-512 BF16 or AMX), else float32; weights stay float32 either way", choices=PRECISIONS)

    def check(self) -> None:
        super().check()
        if min(self.batch_size, self.seq_len, self.top_k) < 1:
            raise TokswapError("batch size, sequence length and top-k must be >= 1")
        if self.body_lr is not None and self.body_lr <= 0:
            raise TokswapError("the body learning rate must be positive")
        if min(self.negatives, self.ce_weight, self.hidden_weight, self.teacher_cache_gb) < 0:
            raise TokswapError("negatives, the loss weights and the teacher cache size must be >= 0")
        if (self.generated is not None and not 0 <= self.generated <= 1) or not 0 <= self.on_policy <= 1 or min(self.gen_temperature, self.student_temperature) < 0:
            raise TokswapError("--generated and --on-policy must be between 0 and 1, the temperatures >= 0")
        if self.requests is not None and not 0 <= self.requests <= 1:
            raise TokswapError("--requests must be between 0 and 1")
        if (self.generated or 0) + self.on_policy > 1:
            raise TokswapError("--generated and --on-policy share one batch: together at most 1")
        if self.mismatch_weight < 0:
            raise TokswapError("--mismatch-weight must be >= 0")
        if self.teacher is not None and not self.teacher.strip():
            raise TokswapError("--teacher must name `source` or a model")
