"""What the teacher says: its own continuations of prompts cut from the training text.

DistillSpec (Zhou et al. 2024) found the data a drafter is distilled on to be the largest lever on how often
its proposals are accepted: the target's own generations, not only the corpus. A drafter trained on corpus
text alone learns the corpus; one trained on the target's continuations learns the target.

Prompts for a block of `BLOCK` steps are drawn together and continued in one batch (decoding is bound by
reading the weights, so 32 sequences cost little more than 4), into a static key-value cache (a dynamic one
grows by concatenation at every token: 16.0 s a block for Gemma-3 on one thread here, 11.8 s static; every
architecture in `gguf.architectures` generates the same tokens either way). A block depends only on (seed, block,
process), its continuations are kept in the cache's bounded store like teacher outputs, and a step takes
its share from its block, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import torch

from ..cache import stored_tensors
from ..drafting.calibration import left_padded
from ..texts import draw_windows
from ..training.loop import step_rng
from .teachers import ModelTeacher, fingerprint

BLOCK = 16  # steps whose continuations are generated in one batch
PROMPT_SHARE = 4  # a prompt is a quarter of --seq-len; the teacher writes the rest


class Continuations:
    """The teacher's continuations for each step, `per_step` sequences of `seq_len` tokens (prompt included;
    shorter where the teacher ended)."""

    def __init__(self, teacher: ModelTeacher, tokenizer, texts: list[str], per_step: int, seq_len: int, temperature: float, key: str):
        self.teacher, self.tokenizer, self.texts = teacher, tokenizer, texts
        self.per_step, self.seq_len, self.temperature = per_step, seq_len, temperature
        self.key = fingerprint(key, per_step, seq_len, temperature, BLOCK)
        self.block: tuple[int, list[list[int]]] | None = None

    def for_step(self, seed: int, step: int, process: int) -> list[list[int]]:
        block = step // BLOCK
        if self.block is None or self.block[0] != block:
            self.block = (block, self._generate(seed, block, process))
        offset = (step % BLOCK) * self.per_step
        return self.block[1][offset : offset + self.per_step]

    def _generate(self, seed: int, block: int, process: int) -> list[list[int]]:
        what = "heal's teacher outputs, one file a step; the least recently used go past --teacher-cache-gb"
        key = fingerprint(self.key, seed, block, process)
        stored = stored_tensors("heal-teacher", key, what, self.teacher.setup.cache_bytes, lambda: self._continue(seed, block, process))
        return [row[: int(length)].tolist() for row, length in zip(stored["ids"], stored["lengths"])]

    @torch.no_grad()
    def _continue(self, seed: int, block: int, process: int) -> dict[str, torch.Tensor]:
        """Prompts left-padded into one batch; each sequence is its prompt and the teacher's tokens after it,
        up to and including the first token the teacher ends on."""
        rng = step_rng(seed, block, process, "prompts")
        prompt_len = max(1, self.seq_len // PROMPT_SHARE)
        windows = draw_windows(self.texts, rng, BLOCK * self.per_step, prompt_len * 16)
        prompts = [self.teacher.prefix + self.tokenizer(w, add_special_tokens=False).input_ids[:prompt_len] for w in windows]
        config = self.teacher.model.generation_config
        ends = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        pad = config.pad_token_id if config.pad_token_id is not None else self.tokenizer.pad_token_id or 0
        inputs, mask = left_padded(prompts, pad, self.teacher.setup.device)
        width = inputs.shape[1]
        torch.manual_seed(rng.getrandbits(63))
        sampling = {"do_sample": True, "temperature": self.temperature, "top_k": 0, "top_p": 1.0} if self.temperature > 0 else {"do_sample": False, "top_k": None, "top_p": None}
        new = self.teacher.model.generate(inputs, attention_mask=mask, max_new_tokens=self.seq_len - prompt_len, pad_token_id=pad, cache_implementation="static", **sampling)[:, width:].cpu()
        sequences = []
        for prompt, tokens in zip(prompts, new.tolist()):
            stop = next((i + 1 for i, token in enumerate(tokens) if token in ends), len(tokens))
            sequences.append(prompt[len(self.teacher.prefix) :] + tokens[:stop])
        ids = torch.zeros(len(sequences), self.seq_len, dtype=torch.int32)
        for i, row in enumerate(sequences):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.int32)
        return {"ids": ids, "lengths": torch.tensor([len(row) for row in sequences])}
