"""The Hugging Face architectures export-gguf writes, each the way llama.cpp's `convert_hf_to_gguf.py` writes it.

One table, `ARCHITECTURES`: the GGUF architecture llama.cpp runs, how the tensors are laid out for its graph
(rotary pairs, Gemma's norms), the hyperparameter keys and extra tensors the converter writes, and what that
graph cannot compute, as the reason a model is refused. The export, its refusals and docs/export-gguf.md all
read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from gguf import MODEL_ARCH, MODEL_ARCH_NAMES, MODEL_TENSOR, TENSOR_NAMES, GGUFWriter, RopeScalingType

from ..errors import TokswapError

FULL, SLIDING = "full_attention", "sliding_attention"


def rope_parameters(config) -> dict[str, dict]:
    """Rope parameters per attention kind: transformers gives one dict, or one per layer type (Gemma-3)."""
    params = getattr(config, "rope_parameters", None) or {"rope_type": "default", "rope_theta": getattr(config, "rope_theta", 10000.0)}
    return params if FULL in params else {FULL: params}


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _shape_keys(writer: GGUFWriter, config) -> None:
    """The model's shape, which every converter class writes."""
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)


def _text_model_keys(writer: GGUFWriter, config, rows: int) -> None:
    """The keys the converter's `TextModel` writes for every architecture that does not write its own."""
    rope = rope_parameters(config)
    _shape_keys(writer, config)
    if rope[FULL].get("rope_type") == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope[FULL]["factor"]))
    writer.add_rope_freq_base(float(rope[FULL]["rope_theta"]))
    if SLIDING in rope:
        writer.add_rope_freq_base_swa(float(rope[SLIDING]["rope_theta"]))
    if config.to_dict().get("head_dim") is not None:
        writer.add_key_length(config.head_dim)
        writer.add_value_length(config.head_dim)


def _llama_keys(writer: GGUFWriter, config, rows: int) -> None:
    _text_model_keys(writer, config, rows)
    writer.add_vocab_size(rows)
    writer.add_rope_dimension_count(_head_dim(config))


def _gemma3_keys(writer: GGUFWriter, config, rows: int) -> None:
    _text_model_keys(writer, config, rows)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    if config.final_logit_softcapping:
        writer.add_final_logit_softcapping(config.final_logit_softcapping)
    if config.sliding_window is not None:
        writer.add_sliding_window(config.sliding_window)


def _phi3_rope_dimensions(config) -> int:
    return int(rope_parameters(config)[FULL].get("partial_rotary_factor", 1.0) * config.hidden_size) // config.num_attention_heads


def _phi3_keys(writer: GGUFWriter, config, rows: int) -> None:
    """Phi-3's converter writes its own set: the original context, partial rotary dimensions, the window (0: none)."""
    _shape_keys(writer, config)
    writer.add_rope_scaling_orig_ctx_len(config.original_max_position_embeddings)
    writer.add_rope_dimension_count(_phi3_rope_dimensions(config))
    writer.add_rope_freq_base(float(rope_parameters(config)[FULL]["rope_theta"]))
    writer.add_sliding_window(config.sliding_window or 0)


def _llama3_rope_factors(config) -> list[tuple[str, torch.Tensor]]:
    """Llama-3's rope scaling as llama.cpp takes it: one divisor per rotary frequency (`rope_freqs`), computed as
    the converter computes it; transformers divides the same frequencies by the same amounts."""
    rope = rope_parameters(config)[FULL]
    if rope.get("rope_type") != "llama3":
        return []
    dim = _head_dim(config)
    freqs = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high, context = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"], rope["original_max_position_embeddings"]
    divisors = []
    for freq in freqs.tolist():
        wavelength = 2 * math.pi / freq
        if wavelength < context / high:
            divisors.append(1.0)
        elif wavelength > context / low:
            divisors.append(factor)
        else:
            smooth = (context / wavelength - low) / (high - low)
            divisors.append(1 / ((1 - smooth) / factor + smooth))
    return [(TENSOR_NAMES[MODEL_TENSOR.ROPE_FREQS] + ".weight", torch.tensor(divisors, dtype=torch.float32))]


def _no_tensors(config) -> list[tuple[str, torch.Tensor]]:
    return []


def _runs_anything(config) -> str | None:
    return None


def _gemma3_limits(config) -> str | None:
    """What llama.cpp's gemma3 graph fixes where transformers reads the config."""
    pattern = [SLIDING if i % 6 < 5 else FULL for i in range(config.num_hidden_layers)]
    if config.query_pre_attn_scalar != config.head_dim:
        return f"query_pre_attn_scalar {config.query_pre_attn_scalar} is not head_dim {config.head_dim} (llama.cpp scales queries by 1/sqrt(head_dim))"
    if config.attn_logit_softcapping is not None:
        return "attention soft-capping is not in llama.cpp's gemma3 graph"
    if config.attention_bias:
        return "attention biases are not in llama.cpp's gemma3 graph"
    if getattr(config, "use_bidirectional_attention", False):
        return "bidirectional attention is EmbeddingGemma's, not a causal model's"
    if config.sliding_window is not None and list(config.layer_types) != pattern:
        return "its layer_types are not llama.cpp's gemma3 pattern (every sixth layer global)"
    if rope_parameters(config).get(SLIDING, {}).get("rope_type", "default") != "default":
        return "its sliding-window layers scale rope, which llama.cpp's gemma3 graph does not"
    return None


@dataclass(frozen=True)
class Architecture:
    """How llama.cpp runs one Hugging Face architecture, and how the converter writes it for that."""

    gguf: MODEL_ARCH
    models: str
    activation: str
    rope_types: tuple[str, ...]
    keys: Callable[[GGUFWriter, object, int], None]
    extra_tensors: Callable[[object], list[tuple[str, torch.Tensor]]] = _no_tensors
    limits: Callable[[object], str | None] = _runs_anything
    rotate_pairs: bool = False  # llama's graph rotates neighbouring dimensions: q/k rows reordered per head
    norm_shift: float = 0.0  # Gemma's norms scale by 1 + weight, llama.cpp's by the weight

    @property
    def name(self) -> str:
        return MODEL_ARCH_NAMES[self.gguf]


_LLAMA = {"gguf": MODEL_ARCH.LLAMA, "activation": "silu", "keys": _llama_keys, "extra_tensors": _llama3_rope_factors, "rotate_pairs": True}
ARCHITECTURES: dict[str, Architecture] = {
    "LlamaForCausalLM": Architecture(models="Llama-2/3.x, SmolLM, TinyLlama", rope_types=("default", "linear", "llama3"), **_LLAMA),
    "MistralForCausalLM": Architecture(models="Mistral", rope_types=("default", "linear"), **_LLAMA),
    "Qwen2ForCausalLM": Architecture(MODEL_ARCH.QWEN2, "Qwen2, Qwen2.5", "silu", ("default", "linear"), _text_model_keys),
    "Gemma3ForCausalLM": Architecture(
        MODEL_ARCH.GEMMA3, "Gemma-3 270M and 1B", "gelu_pytorch_tanh", ("default", "linear"), _gemma3_keys, limits=_gemma3_limits, norm_shift=1.0
    ),
    "Phi3ForCausalLM": Architecture(MODEL_ARCH.PHI3, "Phi-3-mini-4k, Phi-4", "silu", ("default",), _phi3_keys),
}


def architecture_table() -> str:
    """The table docs/export-gguf.md shows (a test keeps the page in step with this)."""
    lines = ["| Hugging Face architecture | llama.cpp architecture | models | rope scaling |", "|---|---|---|---|"]
    lines += [f"| `{hf}` | `{a.name}` | {a.models} | {', '.join(a.rope_types)} |" for hf, a in ARCHITECTURES.items()]
    return "\n".join(lines)


def _refusal(architecture: Architecture, config) -> str | None:
    activation = getattr(config, "hidden_activation", None) or config.hidden_act
    rope = rope_parameters(config)[FULL].get("rope_type", "default")
    if activation != architecture.activation:
        return f"activation {activation!r} is not llama.cpp's {architecture.activation!r} for {architecture.name}"
    if rope not in architecture.rope_types:
        return f"rope scaling {rope!r} is not written for llama.cpp's {architecture.name} (written: {', '.join(architecture.rope_types)})"
    return architecture.limits(config)


def check_exportable(config, what: str) -> Architecture:
    """The table's entry for a model, or one line saying why llama.cpp would not run it from tokswap's file."""
    names = getattr(config, "architectures", None) or []
    known = [ARCHITECTURES[name] for name in names if name in ARCHITECTURES]
    if not known:
        raise TokswapError(f"{what} is {', '.join(names) or 'of an unknown architecture'}; tokswap exports GGUF for {', '.join(ARCHITECTURES)}")
    reason = _refusal(known[0], config.get_text_config())
    if reason:
        raise TokswapError(f"{what} cannot be exported for llama.cpp: {reason}")
    return known[0]
