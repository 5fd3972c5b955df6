"""`tokswap hypernet train`: the hypernetwork's training steps, run by the shared training loop (`training.loop`).

The output folder is always a usable hypernetwork (config.json, model.safetensors) beside the run's resume
state and loss log; the step's text and tokenizer depend only on (seed, step, process), so a resumed run
continues exactly as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..training.loop import TrainingRun, step_rng
from .model import Hypernet, HypernetConfig, describe_source, save_hypernet
from .objective import Batch, Source, aux_loss, lm_loss, load_source_lm, make_batch
from .options import TrainOptions
from .sampling import Corpus


@dataclass
class TrainReport:
    output: str
    steps: int
    seconds: float
    tokens: int
    loss: float | None
    parameters: int
    processes: int


class Trainer:
    """One run: the source model, the hypernetwork, and each step's data."""

    def __init__(self, model: str, data: str | Path, out: str | Path, options: TrainOptions):
        self.loop = TrainingRun(out, model, options, "hypernetwork")
        self.options: TrainOptions = self.loop.options
        self.corpus = Corpus(data)
        self.source: Source = load_source_lm(model).to(self.loop.device)
        o = self.options
        sizes = {"width": o.width, "layers": o.layers, "heads": o.heads, "ffn": o.ffn, "max_pieces": o.max_pieces}
        self.config: HypernetConfig = describe_source(model, self.source.embeddings.map(lambda matrix: matrix.cpu()), **sizes)
        self.net = self.loop.prepare(Hypernet(self.config), o.lr, o.weight_decay)

    @property
    def hypernet(self) -> Hypernet:
        return self.loop.unwrapped()

    def _draw(self, step: int) -> tuple[int, list[str]]:
        rng = step_rng(self.options.seed, step, self.loop.process)
        vocab_size = rng.randint(self.options.vocab_min, self.options.vocab_max)
        return vocab_size, self.corpus.windows(rng, self.options.batch_size, self.options.seq_len * 8)

    def batch(self, step: int) -> Batch:
        """Step `step`'s text, tokenised with a tokenizer fitted to the text of the `recent_steps` steps before
        it (negative steps are drawn like any other), never to the text it encodes: fitted to the batch
        itself, every new token would be frequent in it, and the hypernetwork would learn to inflate new
        tokens' logits, which a large real vocabulary punishes."""
        o = self.options
        vocab_size, texts = self._draw(step)
        recent = [t for s in range(step - o.recent_steps, step) for t in self._draw(s)[1]]
        rng = step_rng(o.seed, step, self.loop.process, "negatives")
        return make_batch(self.source, texts, recent, vocab_size, o.seq_len, o.negatives, o.full_vocab, rng)

    def train_step(self, step: int) -> dict:
        o = self.options
        batch = self.batch(step)
        lm = lm_loss(self.net, self.config, self.source, batch)
        aux = aux_loss(self.net, self.config, self.source, batch, o.aux_tokens, step_rng(o.seed, step, -1 - self.loop.process))
        loss = lm + o.aux_weight * aux
        self.loop.update(loss, o.clip)
        return {"loss": loss.item(), "lm": lm.item(), "aux": aux.item(), "tokens": batch.tokens, "vocab": len(batch.token_bytes)}

    def run(self) -> TrainReport | None:
        """Train until `--steps` or `--minutes`; the report on the main process only."""
        result = self.loop.run(self.train_step, lambda folder: save_hypernet(self.hypernet, folder))
        if result is None:
            return None
        parameters = sum(p.numel() for p in self.hypernet.parameters())
        return TrainReport(str(self.loop.out), result.steps, round(result.seconds, 1), result.tokens, result.loss, parameters, result.processes)


def train(model: str, data: str | Path, out: str | Path, options: TrainOptions) -> TrainReport | None:
    """Train (or resume) a hypernetwork for `model` on the `.txt` files under `data`, saved to `out`."""
    return Trainer(model, data, out, options).run()
