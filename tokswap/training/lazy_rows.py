"""Embedding matrices trained a step's rows at a time.

A 262k-row matrix of which a step reads about 12k rows should not cost a dense gradient, a dense mask and an
AdamW update over every row. A step gathers the rows it reads into one small leaf tensor per matrix (a tied
model's input lookup and output head share it), autograd fills only that leaf's gradient, and `LazyRows`
updates only those rows.

What that means, stated once: a row's Adam moments and weight change only on the steps that read it (lazy
Adam, as torch's SparseAdam and TensorFlow's LazyAdam), while bias correction counts every step of the run;
weight decay, when set, decays only the rows a step updates. Rows outside `trainable` get no update and no
share of the gradient norm. Gradient clipping counts the rows' gradients with every other gradient
(`TrainingRun.update`). With several processes, each step's rows and gradients are gathered from all of them
and averaged, as DDP averages dense gradients, so every replica applies the same update.
"""

from __future__ import annotations

import math

import torch
from accelerate.utils import gather, pad_across_processes

from ..checkpoint import Embeddings


class LazyRows(torch.optim.Optimizer):
    """AdamW over the rows of `embeddings`' matrices that each step reads; the matrices stay outside autograd."""

    def __init__(self, embeddings: Embeddings, lr: float, trainable: torch.Tensor | None = None, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.tied = embeddings.tied
        matrices = [embeddings.matrix(kind) for kind in embeddings.kinds]
        for matrix in matrices:
            matrix.requires_grad_(False)
        super().__init__(matrices, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        self.trainable = trainable
        self.taken: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.reduced: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def matrices(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    def _index(self, kind: str) -> int:
        return 0 if kind == "input" or self.tied else 1

    def take(self, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        """Gather this step's rows: `inputs` the ids the model reads, `outputs` the rows its head scores."""
        needed = [inputs.flatten(), outputs.flatten()] if not self.tied else [torch.cat([inputs.flatten(), outputs.flatten()])]
        self.taken = []
        for matrix, ids in zip(self.matrices, needed):
            ids = torch.unique(ids.to(matrix.device))
            self.taken.append((ids, matrix[ids].requires_grad_()))

    def lookup(self, kind: str, ids: torch.Tensor) -> torch.Tensor:
        """Rows of `kind`'s matrix for `ids`, all among the rows taken this step, with gradients."""
        taken, leaf = self.taken[self._index(kind)]
        return leaf[torch.searchsorted(taken, ids)]

    def gradients(self) -> list[torch.Tensor]:
        """This step's row gradients, trainable rows only, gathered from every process and averaged; what
        clipping scales and `step` applies."""
        self.reduced = []
        for ids, leaf in self.taken:
            grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
            if self.trainable is not None:
                keep = self.trainable.to(ids.device)[ids]
                ids, grad = ids[keep], grad[keep]
            if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
                ids, grad = self._averaged(ids, grad, torch.distributed.get_world_size())
            self.reduced.append((ids, grad))
        return [grad for _, grad in self.reduced]

    @staticmethod
    def _averaged(ids: torch.Tensor, grad: torch.Tensor, processes: int) -> tuple[torch.Tensor, torch.Tensor]:
        all_ids = gather(pad_across_processes(ids, pad_index=-1))
        all_grads = gather(pad_across_processes(grad, pad_index=0))
        real = all_ids >= 0
        union, where = torch.unique(all_ids[real], return_inverse=True)
        return union, grad.new_zeros(len(union), grad.shape[1]).index_add_(0, where, all_grads[real]) / processes

    @torch.no_grad()
    def step(self, closure=None) -> None:
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        for matrix, (ids, grad) in zip(self.matrices, self.reduced):
            state = self.state[matrix]
            if not state:
                state["step"] = torch.zeros(())
                state["exp_avg"] = torch.zeros_like(matrix)
                state["exp_avg_sq"] = torch.zeros_like(matrix)
            state["step"] += 1
            if not len(ids):
                continue
            step = float(state["step"])
            exp_avg = state["exp_avg"].index_select(0, ids).mul_(beta1).add_(grad, alpha=1 - beta1)
            exp_avg_sq = state["exp_avg_sq"].index_select(0, ids).mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            state["exp_avg"].index_copy_(0, ids, exp_avg)
            state["exp_avg_sq"].index_copy_(0, ids, exp_avg_sq)
            rows = matrix.index_select(0, ids).mul_(1 - group["lr"] * group["weight_decay"])
            denom = exp_avg_sq.sqrt_().div_(math.sqrt(1 - beta2**step)).add_(group["eps"])
            matrix.index_copy_(0, ids, rows.addcdiv_(exp_avg, denom, value=-group["lr"] / (1 - beta1**step)))
        self.reduced = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.taken = []
