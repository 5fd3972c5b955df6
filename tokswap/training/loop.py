"""One resumable training run, on `accelerate` so the same command trains on a CPU, a GPU or many GPUs
(`accelerate launch`): what every training command shares.

A run lives in one folder: the trained weights (written by the command's own `save`), the loss curve
(`log.jsonl`, one record per step) and, in the hidden `.resume/` (which commands that copy or export a model
folder leave out), the state to resume from (`state/`: weights, optimizer, scheduler, RNG, written by
`Accelerator.save_state`; `trainer.json`: step, training seconds, tokens, options). Running again on the
same folder resumes with the saved options, of which only the budget, device and save interval may change
(a one-line notice names any other the command line gave differently). A step's data must depend only on
(seed, step, process) for a resumed run to continue exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from functools import partial
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm import tqdm

from ..errors import TokswapError, first_line
from ..options import LoopOptions
from ..staging import published_files
from .allocator import freed_memory_kept
from .lazy_rows import LazyRows

RESUME_DIR = ".resume"
STATE_DIR = f"{RESUME_DIR}/state"
TRAINER_FILE = f"{RESUME_DIR}/trainer.json"
LOG_FILE = "log.jsonl"
FUSED_ADAM_DEVICES = ("cpu", "cuda")  # one kernel per step: 6x faster than the default on a CPU for 151M embedding weights


@dataclass
class LoopResult:
    """What a run measured, from its start over every invocation; tokens are summed over processes."""

    steps: int
    seconds: float
    tokens: int
    loss: float | None
    processes: int


def _accelerator(device: str | None) -> Accelerator:
    if device is None or device.startswith("cuda"):
        if device is not None and not torch.cuda.is_available():
            raise TokswapError(f"--device {device}: no CUDA device is available")
        return Accelerator()
    if device != "cpu":
        raise TokswapError(f"--device must be cpu or cuda, not {device!r}")
    return Accelerator(cpu=True)


def _resume_state(out: Path, model: str, options: LoopOptions, what: str) -> tuple[LoopOptions, dict | None]:
    """The options to run with and the saved trainer state, when `out` holds a run of `model` to resume."""
    if out.exists() and not out.is_dir():
        raise TokswapError(f"{out} is a file; -o names the folder the run is written to")
    trainer = out / TRAINER_FILE
    if not trainer.is_file():
        if out.exists() and any(out.iterdir()):
            raise TokswapError(f"{out} is not empty and holds no {what} run to resume")
        return options, None
    try:
        saved = json.loads(trainer.read_text())
        if not isinstance(saved["step"], int) or not set(saved["options"]) <= {f.name for f in fields(options)}:
            raise ValueError("unexpected fields")
        float(saved["seconds"])
        files = dict(saved["state_files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TokswapError(f"{trainer} is damaged ({first_line(exc)}); remove {out / RESUME_DIR} to start the run again") from None
    state = out / STATE_DIR
    changed = next((name for name, size in files.items() if not (state / name).is_file() or (state / name).stat().st_size != size), None)
    if changed is not None:
        raise TokswapError(f"{state} is damaged ({changed} is missing or not the size it was saved with); remove {out / RESUME_DIR} to start the run again")
    if saved["model"] != model:
        raise TokswapError(f"{out} holds a run for {saved['model']!r}, not {model!r}")
    kept = {name: value for name, value in saved["options"].items() if name not in options.resumable}
    differ = [f"--{name.replace('_', '-')} {value} (not {getattr(options, name)})" for name, value in kept.items() if value != getattr(options, name)]
    if differ:
        print(f"tokswap: resuming {out} with its saved options: {', '.join(differ)}", file=sys.stderr)
    return replace(options, **kept), saved


def lr_factor(step: int, warmup: int, schedule: str) -> float:
    """The learning rate at `step` over its peak: a linear warm-up, then constant or falling as √(warmup/step).
    The inverse square root needs no step budget, so a run stopped by `--minutes` or resumed for more
    follows one curve."""
    rising = (step + 1) / warmup
    return min(rising, 1.0) if schedule == "constant" else min(rising, rising**-0.5)


def step_rng(seed: int, step: int, process: int, stream: str = "") -> random.Random:
    """The random numbers of one (seed, step, process), one independent `stream` for each use."""
    return random.Random(f"{seed}:{step}:{process}{':' + stream if stream else ''}")


class TrainingRun:
    """The run in `out` for `model`: a fresh one, or the saved one resumed with its own options.

    Use: build the module to train (after this, so the seed sets its initial weights), `prepare` it, then
    `run` a step function that returns the step's record (`loss` and `tokens` at least) after `update`.
    Steps, training seconds and tokens count from the start of the run, over every invocation.
    """

    def __init__(self, out: str | Path, model: str, options: LoopOptions, what: str):
        self.out = Path(out)
        self.model = model
        self.what = what
        self.options, self.saved = _resume_state(self.out, model, options, what)
        self.accelerator = _accelerator(self.options.device)
        set_seed(self.options.seed)
        self.step, self.seconds, self.tokens = 0, 0.0, 0
        self.rows: LazyRows | None = None

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def process(self) -> int:
        return self.accelerator.process_index

    def prepare(self, module: torch.nn.Module, lr: float, weight_decay: float, groups: list[dict] | None = None, rows: LazyRows | None = None) -> torch.nn.Module:
        """`module` wrapped for the run, with AdamW (over `groups`, each with its own lr, when given; else every
        parameter), `rows` (embedding matrices updated a step's rows at a time) beside it, and the options'
        learning-rate schedule for both; the saved state restored when resuming."""
        params = list(module.parameters()) if groups is None else groups
        optimizers = [torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=self.device.type in FUSED_ADAM_DEVICES)] if params else []
        optimizers += [rows] if rows is not None else []
        factor = partial(lr_factor, warmup=self.options.warmup, schedule=self.options.schedule)
        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in optimizers]
        self.module, *prepared = self.accelerator.prepare(module, *optimizers, *schedulers)
        self.optimizers, self.schedulers = prepared[: len(optimizers)], prepared[len(optimizers) :]
        self.rows = rows
        if self.saved is not None:
            try:
                self.accelerator.load_state(str(self.out / STATE_DIR))
            except Exception as exc:  # noqa: BLE001 - whatever accelerate or torch raise for a damaged state
                raise TokswapError(f"{self.out / STATE_DIR} is damaged ({first_line(exc)}); remove {self.out / RESUME_DIR} to start the run again") from None
            self.step, self.seconds, self.tokens = self.saved["step"], self.saved["seconds"], self.saved.get("tokens", 0)
        return self.module

    def unwrapped(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.module)

    def update(self, loss: torch.Tensor, clip: float) -> None:
        """One optimizer step on `loss`, every gradient (the rows' included) clipped to norm `clip` together."""
        self.accelerator.backward(loss)
        if self.rows is None:
            self.accelerator.clip_grad_norm_(self.module.parameters(), clip)
        else:
            grads = [p.grad for p in self.module.parameters() if p.grad is not None] + self.rows.gradients()
            coefficient = (clip / (torch.nn.utils.get_total_norm(grads) + 1e-6)).clamp(max=1.0)
            for grad in grads:
                grad.mul_(coefficient)
        for optimizer in self.optimizers:
            optimizer.step()
        for scheduler in self.schedulers:
            scheduler.step()
        for optimizer in self.optimizers:
            optimizer.zero_grad()

    def save(self, save_weights: Callable[[Path], None], save_process: Callable[[Path], None] | None = None) -> None:
        """Write the resume state (with what `save_process` writes of each process's own, into the state folder),
        the weights (all new files or none) and then `trainer.json`, which marks them complete."""
        self.accelerator.wait_for_everyone()
        shared_tensor_notice = logging.getLogger("accelerate.utils.other")  # a tied model's head is expected, not news
        level = shared_tensor_notice.level
        shared_tensor_notice.setLevel(logging.ERROR)
        try:
            self.accelerator.save_state(str(self.out / STATE_DIR))
        finally:
            shared_tensor_notice.setLevel(level)
        if save_process is not None:
            save_process(self.out / STATE_DIR)
        self.accelerator.wait_for_everyone()
        files = {p.relative_to(self.out / STATE_DIR).as_posix(): p.stat().st_size for p in sorted((self.out / STATE_DIR).rglob("*")) if p.is_file()}
        self.saved = {"model": self.model, "step": self.step, "seconds": self.seconds, "tokens": self.tokens, "options": asdict(self.options), "state_files": files}
        if self.accelerator.is_main_process:
            with published_files(self.out) as staging:
                save_weights(staging)
            written = (self.out / TRAINER_FILE).with_suffix(".partial")
            written.write_text(json.dumps(self.saved, indent=2) + "\n")
            written.replace(self.out / TRAINER_FILE)
        self.accelerator.wait_for_everyone()

    def _log(self) -> Path:
        """The loss log, cut back to the resumed step (a run stopped after its last save logged more)."""
        log = self.out / LOG_FILE
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            lines = log.read_text().splitlines() if log.is_file() else []
            kept = [line for line in lines if json.loads(line)["step"] <= self.step]
            log.write_text("".join(line + "\n" for line in kept))
        return log

    def _done(self, started: float) -> bool:
        o = self.options
        if o.steps is not None:
            return self.step >= o.steps
        if self.accelerator.is_main_process and time.perf_counter() - started >= o.minutes * 60:
            self.accelerator.set_trigger()
        return self.accelerator.check_trigger()

    def run(self, train_step: Callable[[int], dict], save_weights: Callable[[Path], None], save_process: Callable[[Path], None] | None = None) -> LoopResult | None:
        """Call `train_step(step)` until `--steps` or `--minutes`, logging each record and saving every
        `save_every` steps and at the end; the result on the main process only."""
        o, main = self.options, self.accelerator.is_main_process
        log = self._log()
        tokens, last, started = 0, None, time.perf_counter()
        step_tokens = torch.zeros((), dtype=torch.long, device=self.device)
        bar = tqdm(total=o.steps, initial=self.step, desc=self.what, unit="step", disable=not main)
        with log.open("a") if main else open("/dev/null", "w") as sink, freed_memory_kept():
            while not self._done(started):
                begun = time.perf_counter()
                record = train_step(self.step)
                self.step += 1
                self.seconds += time.perf_counter() - begun
                tokens += record["tokens"]
                step_tokens += record["tokens"]
                last = record["loss"]
                sink.write(json.dumps({"step": self.step, **record, "seconds": round(self.seconds, 3)}) + "\n")
                sink.flush()
                bar.update(1)
                bar.set_postfix(loss=f"{last:.3f}", tok_s=f"{tokens / (time.perf_counter() - started):.0f}")
                if self.step % o.save_every == 0:
                    self._count(step_tokens)
                    self.save(save_weights, save_process)
        bar.close()
        self._count(step_tokens)
        if self.saved is None or self.step != self.saved["step"]:
            self.save(save_weights, save_process)
        if not main:
            return None
        return LoopResult(self.step, self.seconds, self.tokens, last, self.accelerator.num_processes)

    def _count(self, step_tokens: torch.Tensor) -> None:
        """Add the tokens every process trained on since the last count to the run's total."""
        self.tokens += int(self.accelerator.reduce(step_tokens.clone(), "sum").item())
        step_tokens.zero_()
