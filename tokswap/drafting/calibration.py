"""What the target says, counted, and the hot vocabulary chosen from those counts.

VocabTrim found the target's own greedy continuations of calibration prompts a better guide to the tokens it
will accept than the text those prompts come from. `generated` ranks target ids by how often the target
generated them, ties broken by their count in the text; `text` ranks by the text alone and needs no target
forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..errors import TokswapError
from ..tokenizer_io import bos_prefix
from .draft_vocab_file import DraftVocab


@dataclass(frozen=True)
class Calibration:
    source: str
    text_counts: torch.Tensor
    generated_counts: torch.Tensor | None
    prompts: int
    seconds: float

    def keys(self) -> list[torch.Tensor]:
        return [self.text_counts] if self.generated_counts is None else [self.generated_counts, self.text_counts]

    def coverage(self, kept: torch.Tensor) -> dict[str, float]:
        """Share of each count's tokens that the kept ids cover."""
        counts = {"text": self.text_counts, "generated": self.generated_counts}
        return {name: float(c[kept].sum() / c.sum()) for name, c in counts.items() if c is not None and c.sum() > 0}


def tokenize(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False, verbose=False).input_ids for text in texts]


def prompt_windows(sequences: list[list[int]], count: int, length: int) -> list[list[int]]:
    """About `count` windows of `length` tokens, spread evenly over every text in proportion to its length."""
    total = sum(len(s) for s in sequences)
    windows = []
    for seq in sequences:
        share = max(1, round(count * len(seq) / total))
        last = max(len(seq) - length, 0)
        starts = sorted({round(last * i / max(share - 1, 1)) for i in range(share)})
        windows += [seq[start : start + length] for start in starts if seq[start : start + length]]
    return windows


def _until_end(generated: torch.Tensor, end_ids: list[int]) -> torch.Tensor:
    """Mask of generated tokens up to and including each row's first end token (generate pads after it)."""
    ends = torch.isin(generated, torch.tensor(end_ids))
    return (ends.cumsum(dim=1) - ends.long()) == 0


@torch.no_grad()
def generated_counts(model, tokenizer, windows: list[list[int]], new_tokens: int, batch_size: int, end_ids: list[int]) -> torch.Tensor:
    """How often the target greedily generates each id after each window (left-padded batches)."""
    size = model.get_input_embeddings().weight.shape[0]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_ids[0]
    prefix, device = bos_prefix(tokenizer), next(model.parameters()).device
    counts = torch.zeros(size, dtype=torch.long)
    for first in tqdm(range(0, len(windows), batch_size), desc="target continuations", unit="batch"):
        batch = [prefix + w for w in windows[first : first + batch_size]]
        width = max(len(w) for w in batch)
        ids = torch.tensor([[pad] * (width - len(w)) + w for w in batch], device=device)
        mask = torch.tensor([[0] * (width - len(w)) + [1] * len(w) for w in batch], device=device)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=end_ids)
        generated = out[:, width:].cpu()
        counts += torch.bincount(generated[_until_end(generated, end_ids)], minlength=size)[:size]
    return counts


def calibrate(model, tokenizer, texts: list[str], source: str, prompts: int, prompt_tokens: int, new_tokens: int, batch_size: int, end_ids: list[int]) -> Calibration:
    start = time.perf_counter()
    sequences = tokenize(tokenizer, texts)
    size = model.get_input_embeddings().weight.shape[0]
    text = torch.bincount(torch.tensor([i for s in sequences for i in s], dtype=torch.long), minlength=size)[:size]
    if source == "text":
        return Calibration(source, text, None, 0, time.perf_counter() - start)
    windows = prompt_windows(sequences, prompts, prompt_tokens)
    generated = generated_counts(model, tokenizer, windows, new_tokens, batch_size, end_ids)
    return Calibration(source, text, generated, len(windows), time.perf_counter() - start)


def ranked(keys: Sequence[torch.Tensor]) -> torch.Tensor:
    """Ids by descending `keys[0]`, ties broken by `keys[1]`, ..., then by ascending id."""
    order = torch.arange(len(keys[0]))
    for key in reversed(keys):
        order = order[torch.sort(key[order], descending=True, stable=True).indices]
    return order


def check_keep(keep: int, always: Sequence[int], size: int) -> None:
    low = max(1, len(set(always)))
    if not low <= keep <= size:
        raise TokswapError(f"--keep must be between {low} (the target's end tokens are always kept) and {size:,} (its vocabulary)")


def choose(keys: Sequence[torch.Tensor], keep: int, always: Sequence[int]) -> DraftVocab:
    """The `always` ids plus the best-ranked others, `keep` in all."""
    size = len(keys[0])
    check_keep(keep, always, size)
    forced = torch.zeros(size, dtype=torch.bool)
    forced[list(always)] = True
    order = ranked([forced.float(), *keys])
    return DraftVocab(torch.sort(order[:keep]).values, size)
