"""What the target says, counted, and the hot vocabulary chosen from those counts.

VocabTrim found the target's own greedy continuations of calibration prompts a better guide to the tokens it
will accept than the text those prompts come from. `generated` has the target continue bench-draft's built-in
prompts (twelve categories: five languages besides English, code, emails, arithmetic, ...) and prompts cut
from the calibration text (one more category), and ranks ids by how often it generated them, then by the
probability it gave them along the way, each category weighing the same in both: a user who calibrates on
one language keeps the tokens the target says in the others. `text` ranks by the text alone and needs no
target forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessor, LogitsProcessorList

from ..errors import TokswapError
from ..tokenizer_io import bos_prefix
from .draft_vocab_file import DraftVocab
from .options import CalibrationOptions
from .prompts import BUILT_IN_PROMPTS

CALIBRATION_CATEGORY = "calibration"


def _share(counts: torch.Tensor, kept: torch.Tensor) -> float:
    return float(counts[kept].sum() / counts.sum())


def _mixture(per_category: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each category's totals as shares of that category, summed: every category weighs the same."""
    return sum(totals.double() / totals.sum().clamp_min(1) for totals in per_category.values())


@dataclass(frozen=True)
class Calibration:
    """Per id: its count in the calibration text (None without one), and per prompt category how often the
    target generated it and the probability the target gave it over those steps."""

    source: str
    text_counts: torch.Tensor | None
    generated: dict[str, torch.Tensor]
    probability: dict[str, torch.Tensor]
    prompts: int
    seconds: float

    def keys(self, produced: torch.Tensor) -> list[torch.Tensor]:
        """Ranking keys, most significant first. `produced` is 0 for tokens no text produces: they come after
        every token the target generated or any text holds."""
        text = [] if self.text_counts is None else [self.text_counts]
        if self.source == "text":
            return [*text, produced]
        return [_mixture(self.generated), produced, _mixture(self.probability), *text]

    def coverage(self, kept: torch.Tensor) -> dict[str, float]:
        """Share of the text's tokens, and of every token the target generated, that the kept ids cover."""
        counts = {"text": self.text_counts, "generated": sum(self.generated.values()) if self.generated else None}
        return {name: _share(c, kept) for name, c in counts.items() if c is not None and c.sum() > 0}

    def category_coverage(self, kept: torch.Tensor) -> dict[str, float]:
        """Per prompt category, the share of the target's generated tokens that the kept ids cover."""
        return {name: _share(c, kept) for name, c in self.generated.items() if c.sum() > 0}


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


class _Probability(LogitsProcessor):
    """Adds each row's next-token distribution to its category's totals until the row has ended; the scores
    pass unchanged."""

    def __init__(self, totals: torch.Tensor, labels: torch.Tensor, width: int, end_ids: list[int]):
        self.totals, self.labels, self.width, self.end_ids = totals, labels, width, torch.tensor(end_ids)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        live = ~torch.isin(input_ids[:, self.width :].cpu(), self.end_ids).any(1)
        probabilities = scores.float().softmax(-1)[:, : self.totals.shape[1]].cpu()
        self.totals.index_add_(0, self.labels[live], probabilities[live])
        return scores


def left_padded(prompts: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts as one batch for `generate`: padded on the left, so every prompt ends where generation starts,
    and the attention mask that hides the padding."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    return ids, mask


@torch.no_grad()
def continuations(model, tokenizer, prompts: list[list[int]], labels: list[int], categories: int, new_tokens: int, batch_size: int, end_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per category (`labels[i]` is prompt i's): how often the target greedily generated each id after its
    prompts, and the probability it gave each id at those steps (left-padded batches)."""
    size = model.get_input_embeddings().weight.shape[0]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_ids[0]
    prefix, device = bos_prefix(tokenizer), next(model.parameters()).device
    counts = torch.zeros(categories, size, dtype=torch.long)
    probability = torch.zeros(categories, size)
    for first in tqdm(range(0, len(prompts), batch_size), desc="target continuations", unit="batch"):
        batch = [prefix + p for p in prompts[first : first + batch_size]]
        rows = torch.tensor(labels[first : first + batch_size])
        ids, mask = left_padded(batch, pad, device)
        width = ids.shape[1]
        spread = LogitsProcessorList([_Probability(probability, rows, width, end_ids)])
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=end_ids, logits_processor=spread)
        generated = out[:, width:].cpu()
        said = _until_end(generated, end_ids)
        for label in rows.unique():
            chosen = rows == label
            counts[label] += torch.bincount(generated[chosen][said[chosen]], minlength=size)[:size]
    return counts, probability


def calibrate(model, tokenizer, texts: list[str], options: CalibrationOptions, end_ids: list[int]) -> Calibration:
    """The text's counts, and (`generated`) the target's continuations of the built-in prompts and of windows
    cut from the text."""
    start = time.perf_counter()
    size = model.get_input_embeddings().weight.shape[0]
    sequences = tokenize(tokenizer, texts)
    text = torch.bincount(torch.tensor([i for s in sequences for i in s], dtype=torch.long), minlength=size)[:size] if texts else None
    if options.source == "text":
        return Calibration("text", text, {}, {}, 0, time.perf_counter() - start)
    built_in = list(BUILT_IN_PROMPTS) if options.built_in else []
    prompts = [*zip([p.category for p in built_in], tokenize(tokenizer, [p.text for p in built_in]))]
    prompts += [(CALIBRATION_CATEGORY, w) for w in prompt_windows(sequences, options.prompts, options.prompt_tokens)] if texts else []
    names = list(dict.fromkeys(category for category, _ in prompts))
    labels = [names.index(category) for category, _ in prompts]
    counts, probability = continuations(model, tokenizer, [ids for _, ids in prompts], labels, len(names), options.new_tokens, options.batch_size, end_ids)
    return Calibration("generated", text, dict(zip(names, counts)), dict(zip(names, probability)), len(prompts), time.perf_counter() - start)


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
