"""The training loop, on `accelerate` so one script runs on a CPU, a GPU, or many GPUs (`accelerate launch`).

The output folder is always a usable hypernetwork (config.json, model.safetensors) and, beside it, the
state to resume from (`state/`: weights, optimizer, scheduler, RNG, written by `Accelerator.save_state`;
`trainer.json`: step, training seconds, options) and the loss curve (`log.jsonl`). Running again on the
same folder resumes: the step's text and tokenizer depend only on (seed, step, process), so a resumed run
continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm import tqdm

from ..errors import TokswapError
from .model import Hypernet, HypernetConfig, describe_source, save_hypernet
from .objective import Source, aux_loss, lm_loss, load_source_lm, make_batch
from .options import TrainOptions
from .sampling import Corpus, step_rng

STATE_DIR = "state"
TRAINER_FILE = "trainer.json"
LOG_FILE = "log.jsonl"
RESUMABLE = ("steps", "minutes", "device", "save_every")


@dataclass
class TrainReport:
    output: str
    steps: int
    seconds: float
    tokens: int
    loss: float | None
    parameters: int
    processes: int


def _accelerator(device: str | None) -> Accelerator:
    if device is None or device.startswith("cuda"):
        if device is not None and not torch.cuda.is_available():
            raise TokswapError(f"--device {device}: no CUDA device is available")
        return Accelerator()
    if device != "cpu":
        raise TokswapError(f"--device must be cpu or cuda, not {device!r}")
    return Accelerator(cpu=True)


def _resume_state(out: Path, model: str, options: TrainOptions) -> tuple[TrainOptions, dict | None]:
    """The options to run with and the saved trainer state, when `out` holds a run of `model` to resume."""
    trainer = out / TRAINER_FILE
    if not trainer.is_file():
        if out.exists() and any(out.iterdir()):
            raise TokswapError(f"{out} is not empty and holds no hypernetwork run to resume")
        return options, None
    saved = json.loads(trainer.read_text())
    if saved["model"] != model:
        raise TokswapError(f"{out} holds a run for {saved['model']!r}, not {model!r}")
    kept = {f.name: saved["options"][f.name] for f in fields(TrainOptions) if f.name not in RESUMABLE and f.name in saved["options"]}
    return replace(options, **kept), saved


class Trainer:
    """One run: the source model, the hypernetwork, its optimizer, and the step's data."""

    def __init__(self, model: str, data: str | Path, out: str | Path, options: TrainOptions):
        options.check()
        self.out = Path(out)
        self.model_name = model
        self.options, self.saved = _resume_state(self.out, model, options)
        self.accelerator = _accelerator(self.options.device)
        set_seed(self.options.seed)
        self.corpus = Corpus(data)
        self.source: Source = load_source_lm(model).to(self.accelerator.device)
        o = self.options
        sizes = {"width": o.width, "layers": o.layers, "heads": o.heads, "ffn": o.ffn, "max_pieces": o.max_pieces}
        self.config: HypernetConfig = describe_source(model, {k: m.cpu() for k, m in self.source.matrices.items()}, **sizes)
        net = Hypernet(self.config)
        optimizer = torch.optim.AdamW(net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / o.warmup))
        self.net, self.optimizer, self.scheduler = self.accelerator.prepare(net, optimizer, scheduler)
        self.step, self.seconds = 0, 0.0
        if self.saved is not None:
            self.accelerator.load_state(str(self.out / STATE_DIR))
            self.step, self.seconds = self.saved["step"], self.saved["seconds"]

    @property
    def hypernet(self) -> Hypernet:
        return self.accelerator.unwrap_model(self.net)

    def _draw(self, step: int) -> tuple[int, list[str]]:
        rng = step_rng(self.options.seed, step, self.accelerator.process_index)
        vocab_size = rng.randint(self.options.vocab_min, self.options.vocab_max)
        return vocab_size, self.corpus.windows(rng, self.options.batch_size, self.options.seq_len * 8)

    def batch(self, step: int):
        """Step `step`'s text, tokenised with a tokenizer fitted to the text of the `recent_steps` steps before
        it (negative steps are drawn like any other), never to the text it encodes: fitted to the batch
        itself, every new token would be frequent in it, and the hypernetwork would learn to inflate new
        tokens' logits, which a large real vocabulary punishes."""
        o = self.options
        vocab_size, texts = self._draw(step)
        recent = [t for s in range(step - o.recent_steps, step) for t in self._draw(s)[1]]
        rng = step_rng(o.seed, step, self.accelerator.process_index, "negatives")
        return make_batch(self.source, texts, recent, vocab_size, o.seq_len, o.negatives, o.full_vocab, rng)

    def train_step(self) -> dict:
        o = self.options
        batch = self.batch(self.step)
        lm = lm_loss(self.net, self.config, self.source, batch)
        aux = aux_loss(self.net, self.config, self.source, batch, o.aux_tokens, step_rng(o.seed, self.step, -1 - self.accelerator.process_index))
        loss = lm + o.aux_weight * aux
        self.accelerator.backward(loss)
        self.accelerator.clip_grad_norm_(self.net.parameters(), o.clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self.step += 1
        return {"step": self.step, "loss": loss.item(), "lm": lm.item(), "aux": aux.item(), "tokens": batch.tokens, "vocab": len(batch.token_bytes)}

    def save(self) -> None:
        """Write the hypernetwork, the resume state and then `trainer.json`, which marks them complete."""
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(self.out / STATE_DIR))
        self.saved = {"model": self.model_name, "step": self.step, "seconds": self.seconds, "options": asdict(self.options)}
        if self.accelerator.is_main_process:
            save_hypernet(self.hypernet, self.out)
            (self.out / TRAINER_FILE).write_text(json.dumps(self.saved, indent=2) + "\n")
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

    def run(self) -> TrainReport | None:
        """Train until `--steps` or `--minutes`; the report (tokens summed over processes) on the main process only."""
        o, main = self.options, self.accelerator.is_main_process
        log = self._log()
        tokens, last, started = 0, None, time.perf_counter()
        bar = tqdm(total=o.steps, initial=self.step, desc="hypernet", unit="step", disable=not main)
        with log.open("a") if main else open("/dev/null", "w") as sink:
            while not self._done(started):
                begun = time.perf_counter()
                record = self.train_step()
                self.seconds += time.perf_counter() - begun
                tokens += record["tokens"]
                last = record["loss"]
                sink.write(json.dumps({**record, "seconds": round(self.seconds, 3)}) + "\n")
                sink.flush()
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{tokens / (time.perf_counter() - started):.0f}")
                if self.step % o.save_every == 0:
                    self.save()
        bar.close()
        if self.saved is None or self.step != self.saved["step"]:
            self.save()
        tokens = int(self.accelerator.reduce(torch.tensor(tokens, device=self.accelerator.device), "sum").item())
        if not main:
            return None
        parameters = sum(p.numel() for p in self.hypernet.parameters())
        return TrainReport(str(self.out), self.step, round(self.seconds, 1), tokens, last, parameters, self.accelerator.num_processes)


def train(model: str, data: str | Path, out: str | Path, options: TrainOptions) -> TrainReport | None:
    """Train (or resume) a hypernetwork for `model` on the `.txt` files under `data`, saved to `out`."""
    return Trainer(model, data, out, options).run()
