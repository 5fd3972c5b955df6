"""What a Hugging Face config says about the shape llama.cpp's graphs assume, read the same way by every
architecture's entry (`architectures`, `recurrent`)."""

from __future__ import annotations

FULL, SLIDING = "full_attention", "sliding_attention"


def rope_parameters(config) -> dict[str, dict]:
    """Rope parameters per attention kind: transformers gives one dict, or one per layer type (Gemma-3)."""
    params = getattr(config, "rope_parameters", None) or {"rope_type": "default", "rope_theta": getattr(config, "rope_theta", 10000.0)}
    return params if FULL in params else {FULL: params}


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def heads_fill_hidden(config) -> str | None:
    if head_dim(config) * config.num_attention_heads != config.hidden_size:
        return f"head_dim {head_dim(config)} x {config.num_attention_heads} heads is not hidden_size {config.hidden_size}, which llama.cpp's graph assumes"
    return None
