"""Text a model writes for the student to learn on: continuations of prompts (`openings`: windows cut from the
training text, or requests).

DistillSpec (Zhou et al. 2024) found the data a drafter is distilled on to be the largest lever on how often
its proposals are accepted. A drafter trained on corpus text alone learns the corpus; one trained on the
target's continuations (`TeacherContinuations`, `--generated`) learns the target; one trained on its own
continuations, scored by the target (`StudentContinuations`, `--on-policy`; GKD's on-policy distillation),
learns where its own text leads it astray.

Prompts for a block of `BLOCK` steps are drawn together and continued in one batch (decoding is bound by
reading the weights, so 32 sequences cost little more than 4), into a static key-value cache (a dynamic one
grows by concatenation at every token: 16.0 s a block for Gemma-3 on one thread here, 11.8 s static; every
architecture in `gguf.architectures` generates the same tokens either way). A step takes its share from its
block. The teacher's blocks depend only on (seed, block, process) and are kept in the cache's bounded store
like teacher outputs; the student's depend on its weights at the block's first step, so the block in use is
saved with the run's state and a resumed run continues exactly as an uninterrupted one.

While the teacher writes, it has already scored every token it writes: its top-k and normalizer at each
generated position are kept with the block (`Tail`), and the step reads only the prompt again. That is most
of a teacher forward for half of each step's windows (Gemma-3: its 262k-row head alone is 0.5 s of a step).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..cache import stored_tensors
from ..drafting.calibration import left_padded
from ..training.loop import step_rng
from .head_summary import summary
from .openings import Openings
from .teachers import ModelTeacher, Tail, fingerprint

BLOCK = 16  # steps whose continuations are generated in one batch


@dataclass(frozen=True)
class Written:
    """One sequence of a step: its prompt and the tokens written after it (from `start`), what wrote it and
    from what prompt (`label`), and the teacher's outputs on the written tokens when the teacher wrote them."""

    ids: list[int]
    start: int
    label: str
    tail: Tail | None


class Continuations:
    """Continuations for each step, `per_step` sequences of `seq_len` tokens (prompt included; shorter where
    the writer ended); `_block` generates one block's as `{"ids", "lengths", "starts"}` (where each writing
    starts), with the teacher's outputs on the written tokens when the teacher wrote them."""

    stream = ""

    def __init__(self, openings: Openings, per_step: int, seq_len: int, temperature: float):
        self.openings = openings
        self.per_step, self.seq_len, self.temperature = per_step, seq_len, temperature
        self.block: tuple[int, dict[str, torch.Tensor]] | None = None
        self.labels: tuple[int, list[str]] = (-1, [])

    def for_step(self, seed: int, step: int, process: int) -> list[Written]:
        """The step's sequences, each with the teacher's outputs for its written tokens where the block holds
        them."""
        block = step // BLOCK
        if self.block is None or self.block[0] != block:
            self.block = (block, self._block(seed, block, process))
        if self.labels[0] != block:  # a block loaded with a resumed run's state is labelled here too
            self.labels = (block, [label for _, label in self._prompts(seed, block, process)])
        written, first = self.block[1], (step % BLOCK) * self.per_step
        rows = []
        for r in range(first, first + self.per_step):
            length, start = int(written["lengths"][r]), int(written["starts"][r])
            tail = Tail(start, *(written[name][r, start:length] for name in ("top_ids", "logp", "rest"))) if "top_ids" in written and start > 0 else None
            rows.append(Written(written["ids"][r, :length].tolist(), start, f"{self.stream or 'teacher'}:{self.labels[1][r]}", tail))
        return rows

    def _prompts(self, seed: int, block: int, process: int) -> list[tuple[list[int], str]]:
        """The block's prompts (without the BOS prefix), each with what it is; drawn again, not stored, since
        they depend only on (seed, block, process)."""
        rng = step_rng(seed, block, process, f"prompts{self.stream}")
        return self.openings.draw(rng, BLOCK * self.per_step, self.seq_len)

    def _block(self, seed: int, block: int, process: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def _write(self, model: torch.nn.Module, prefix: list[int], seed: int, block: int, process: int, teacher: ModelTeacher | None = None) -> dict[str, torch.Tensor]:
        """Prompts left-padded into one batch; each sequence is its prompt and `model`'s tokens after it, up to
        and including the first token it ends on. With `teacher` (the model writing), also where each written
        token starts (`starts`) and, per token, the teacher's distribution at the position that predicts it."""
        prompts = [prefix + ids for ids, _ in self._prompts(seed, block, process)]
        config = model.generation_config
        ends = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        pad = config.pad_token_id if config.pad_token_id is not None else self.openings.tokenizer.pad_token_id or 0
        inputs, mask = left_padded(prompts, pad, next(model.parameters()).device)
        width = inputs.shape[1]
        torch.manual_seed(step_rng(seed, block, process, f"sampling{self.stream}").getrandbits(63))
        sampling = {"do_sample": True, "temperature": self.temperature, "top_k": 0, "top_p": 1.0} if self.temperature > 0 else {"do_sample": False, "top_k": None, "top_p": None}
        scored = []
        hook = model.register_forward_hook(lambda _, __, out: scored.append(teacher.distribution(summary(out.logits[:, -1], teacher.top_k)))) if teacher else None
        try:
            longest = self.seq_len + len(prefix) - min(len(p) for p in prompts)
            new = model.generate(inputs, attention_mask=mask, max_new_tokens=longest, pad_token_id=pad, cache_implementation="static", **sampling)[:, width:].cpu()
        finally:
            if hook is not None:
                hook.remove()
        sequences, starts = [], []
        for prompt, tokens in zip(prompts, new.tolist()):
            starts.append(len(prompt) - len(prefix))
            stop = next((i + 1 for i, token in enumerate(tokens) if token in ends), len(tokens))
            sequences.append(prompt[len(prefix) :] + tokens[: min(stop, self.seq_len - starts[-1])])
        ids = torch.zeros(len(sequences), self.seq_len, dtype=torch.int32)
        for i, row in enumerate(sequences):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.int32)
        block = {"ids": ids, "lengths": torch.tensor([len(row) for row in sequences]), "starts": torch.tensor(starts)}
        return block if teacher is None else {**block, **self._scored(scored[: new.shape[1]], starts)}

    def _scored(self, scored: list[tuple[torch.Tensor, ...]], starts: list[int]) -> dict[str, torch.Tensor]:
        """The teacher's distributions at each generating call (all rows at once) placed at the row position of
        the token each call predicts."""
        rows, k = len(starts), scored[0][0].shape[-1]
        out = {"top_ids": torch.zeros(rows, self.seq_len, k, dtype=torch.int32), "logp": torch.zeros(rows, self.seq_len, k), "rest": torch.zeros(rows, self.seq_len)}
        for name, values in zip(("top_ids", "logp", "rest"), zip(*scored)):
            values = torch.stack(values, dim=1)
            for r, start in enumerate(starts):
                n = min(values.shape[1], self.seq_len - start)
                out[name][r, start : start + n] = values[r, :n]
        return out


class TeacherContinuations(Continuations):
    """The teacher's continuations (greedy, or at `temperature`), kept in the cache's bounded store."""

    def __init__(self, teacher: ModelTeacher, openings: Openings, per_step: int, seq_len: int, temperature: float, key: str):
        super().__init__(openings, per_step, seq_len, temperature)
        self.teacher = teacher
        self.key = fingerprint(key, openings.identity, per_step, seq_len, temperature, BLOCK)

    def _block(self, seed: int, block: int, process: int) -> dict[str, torch.Tensor]:
        what = "heal's teacher outputs, one file a step; the least recently used go past --teacher-cache-gb"
        key = fingerprint(self.key, seed, block, process, "scored")
        return stored_tensors("heal-teacher", key, what, self.teacher.setup.cache_bytes, lambda: self._write(self.teacher.model, self.teacher.prefix, seed, block, process, self.teacher))


class StudentContinuations(Continuations):
    """The student's own continuations, written by a copy of it in `dtype` taken at the block's first step
    (the teacher then scores them like any window)."""

    stream = "student"

    def __init__(self, student: torch.nn.Module, prefix: list[int], dtype: torch.dtype, openings: Openings, per_step: int, seq_len: int, temperature: float):
        super().__init__(openings, per_step, seq_len, temperature)
        self.student, self.prefix, self.dtype = student, prefix, dtype

    def _block(self, seed: int, block: int, process: int) -> dict[str, torch.Tensor]:
        writer = copy.deepcopy(self.student).to(self.dtype).eval()
        return self._write(writer, self.prefix, seed, block, process)

    def save(self, path: Path) -> None:
        """The block in use, for a resumed run to continue on (nothing before the first block)."""
        if self.block is not None:
            save_file({**self.block[1], "block": torch.tensor(self.block[0])}, str(path))

    def load(self, path: Path) -> None:
        if path.is_file():
            saved = load_file(str(path))
            self.block = (int(saved.pop("block")), saved)
