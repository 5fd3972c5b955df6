"""What a model's forward does around its embedding matrices, for the steps that compute part of it by hand
(they feed `inputs_embeds`, or score final hidden states against rows).

In transformers 5.25, between the embedding lookup and the first layer, and between the final norm and the
returned logits, of the architectures tokswap moves:

- Gemma-2/3: the embedding module multiplies rows by √hidden (`embed_scale`), so `inputs_embeds` must come
  multiplied; logits are soft-capped after the head, cap·tanh(z/cap) (`final_logit_softcapping`).
- Granite: the base model multiplies `inputs_embeds` by `embedding_multiplier` itself, however they came;
  logits are divided by `logits_scaling` after the head. Its residual and attention multipliers act inside
  the layers, which every path runs through the model.
- Llama, Qwen3, SmolLM3, Olmo2, Phi3, Qwen3.5, LFM2: nothing (LFM2's final norm, `embedding_norm`, is in the
  base model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def input_rows(model: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """Embedding rows as the model's embedding module hands them on (Gemma's √hidden), to pass as
    `inputs_embeds`: the base model does not apply what its embedding module would."""
    scale = getattr(model.get_input_embeddings(), "embed_scale", None)
    return rows if scale is None else rows * scale.to(rows.dtype)


def logits_scaling(model: torch.nn.Module) -> float:
    """What the model divides its head's output by (Granite's `logits_scaling`; 1 elsewhere)."""
    return float(getattr(model.config.get_text_config(), "logits_scaling", None) or 1.0)


def output_logits(model: torch.nn.Module, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Next-token logits from final hidden states against `weight`'s rows, as the model's forward makes them
    from its head's output: divided by its logits scaling, soft-capped as it caps them.
    The batch is multiplied as one matrix: a batched `hidden @ weight.T` gave each sequence its own contiguous
    copy of the transposed head (1.3 GB a step for Gemma-3's 262k rows)."""
    logits = F.linear(hidden.reshape(-1, hidden.shape[-1]), weight).view(*hidden.shape[:-1], -1)
    scaling = logits_scaling(model)
    if scaling != 1.0:
        logits = logits / scaling
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    return cap * torch.tanh(logits / cap) if cap else logits
