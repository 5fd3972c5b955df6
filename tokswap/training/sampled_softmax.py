"""Log-probabilities over a large vocabulary from a sample of its rows, for every training command.

A 262k-row output head costs more than SmolLM2's whole body, forward and backward. The rows that matter
for a step are always computed (`heal`: its tokens, the teacher's top-k, tokens no text produces;
`hypernet train`: the sampled vocabulary), and a sample of the rest stands for all of them, each weighted by
how many rows it stands for, so the partition function is estimated without bias and every row is pushed
down when its logit is too high.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def candidate_rows(required: torch.Tensor, rows: int, negatives: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted row ids for this step's softmax and each one's log weight (0 for required rows); with
    `negatives` 0 or covering the rest, every row."""
    required = torch.unique(required.flatten().cpu())
    rest = rows - len(required)
    if negatives == 0 or negatives >= rest:
        return torch.arange(rows), torch.zeros(rows)
    free = torch.ones(rows, dtype=torch.bool)
    free[required] = False
    pool = free.nonzero().squeeze(1)
    sampled = pool[torch.randperm(len(pool), generator=generator)[:negatives]]
    ids = torch.cat([required, sampled])
    weights = torch.cat([torch.zeros(len(required)), torch.full((negatives,), math.log(rest / negatives))])
    order = ids.argsort()
    return ids[order], weights[order]


def positions(candidates: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Where each id sits among the sorted candidates (every id must be one)."""
    return torch.searchsorted(candidates.to(ids.device), ids)


def weighted_log_softmax(logits: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over the last dimension, each column counted as exp(`log_weights`) columns."""
    return F.log_softmax(logits + log_weights, dim=-1)
