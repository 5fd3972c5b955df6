"""Where written continuations start: windows cut from `--data`, requests (the built-in bank and `--prompts`),
or a share of each."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..drafting.prompts import Prompt
from ..texts import draw_windows
from .requests import draw_request, rendered

PROMPT_SHARE = 4  # a window's prompt is a quarter of --seq-len; the model writes the rest
REQUEST_SHARE = 2  # a request may take up to half of --seq-len (longer ones are cut)
BANK_VERSION = 2  # part of every cached continuation's key: a changed bank writes new ones


@dataclass
class Openings:
    """Draws prompts as MODEL's token ids (no BOS), each labelled with what it is (`data`, or a request's
    category/language). A prompt is a request with probability `requests`, else a window of `texts`; a
    request is a line of `prompts` half of the time when there are any, else one from the bank."""

    tokenizer: object
    texts: list[str]
    prompts: list[Prompt]
    requests: float

    @property
    def identity(self) -> list:
        """What the drawn prompts depend on, for the keys of cached continuations."""
        return [self.texts, [(p.category, p.text) for p in self.prompts], self.requests, BANK_VERSION]

    def draw(self, rng: random.Random, count: int, seq_len: int) -> list[tuple[list[int], str]]:
        return [self._request(rng, seq_len) if rng.random() < self.requests else self._window(rng, seq_len) for _ in range(count)]

    def _window(self, rng: random.Random, seq_len: int) -> tuple[list[int], str]:
        length = max(1, seq_len // PROMPT_SHARE)
        (window,) = draw_windows(self.texts, rng, 1, length * 16)
        return self.tokenizer(window, add_special_tokens=False).input_ids[:length], "data"

    def _request(self, rng: random.Random, seq_len: int) -> tuple[list[int], str]:
        if self.prompts and rng.random() < 0.5:
            prompt = rng.choice(self.prompts)
            text, label = prompt.text.rstrip("\n") + "\n", f"prompts-{prompt.category}"
        else:
            request = draw_request(rng)
            text, label = request.text, f"{request.category}/{request.language}"
        ids = self.tokenizer(rendered(self.tokenizer, text), add_special_tokens=False).input_ids
        return ids[: max(1, seq_len // REQUEST_SHARE)], label
