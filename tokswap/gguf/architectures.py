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
from .hparams import FULL, SLIDING, head_dim, heads_fill_hidden, rope_parameters
from .recurrent import lfm2_keys, lfm2_layout, lfm2_limits, qwen35_keys, qwen35_layout, qwen35_limits, qwen35_rename

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
    writer.add_rope_dimension_count(head_dim(config))


def _gemma3_keys(writer: GGUFWriter, config, rows: int) -> None:
    _text_model_keys(writer, config, rows)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    if config.final_logit_softcapping:
        writer.add_final_logit_softcapping(config.final_logit_softcapping)
    if config.sliding_window is not None:
        writer.add_sliding_window(config.sliding_window)


def _granite_keys(writer: GGUFWriter, config, rows: int) -> None:
    """Llama's keys, then the multipliers the converter writes when they are set (llama.cpp divides the logits
    by `logit_scale`, as transformers divides them by `logits_scaling`)."""
    _llama_keys(writer, config, rows)
    for add, value in (
        (writer.add_attention_scale, config.attention_multiplier),
        (writer.add_embedding_scale, config.embedding_multiplier),
        (writer.add_residual_scale, config.residual_multiplier),
        (writer.add_logit_scale, config.logits_scaling),
    ):
        if value:
            add(float(value))


def _gemma2_keys(writer: GGUFWriter, config, rows: int) -> None:
    """Gemma-2's converter writes its own set: no rope keys (llama.cpp's default base, 10000), both soft-caps."""
    _shape_keys(writer, config)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_attn_logit_softcapping(config.attn_logit_softcapping)
    writer.add_final_logit_softcapping(config.final_logit_softcapping)
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
    if "long_factor" in rope_parameters(config)[FULL]:
        writer.add_rope_scaling_attn_factors(_longrope_attention_factor(config))


def _longrope_scale(config) -> float:
    return config.max_position_embeddings / rope_parameters(config)[FULL]["original_max_position_embeddings"]


def _longrope_attention_factor(config) -> float:
    """The factor cos and sin are scaled by, as the converter computes it from the context lengths."""
    scale, original = _longrope_scale(config), rope_parameters(config)[FULL]["original_max_position_embeddings"]
    return math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0


def _longrope_factors(config) -> list[tuple[str, torch.Tensor]]:
    """Phi-3's long and short rotary factors, one per rotary frequency; llama.cpp uses the long ones when its
    context is longer than the original one, transformers when the sequence is."""
    rope = rope_parameters(config)[FULL]
    if "long_factor" not in rope:
        return []
    return [
        (TENSOR_NAMES[MODEL_TENSOR.ROPE_FACTORS_LONG] + ".weight", torch.tensor(rope["long_factor"], dtype=torch.float32)),
        (TENSOR_NAMES[MODEL_TENSOR.ROPE_FACTORS_SHORT] + ".weight", torch.tensor(rope["short_factor"], dtype=torch.float32)),
    ]


def _llama3_rope_factors(config) -> list[tuple[str, torch.Tensor]]:
    """Llama-3's rope scaling as llama.cpp takes it: one divisor per rotary frequency (`rope_freqs`), computed as
    the converter computes it; transformers divides the same frequencies by the same amounts."""
    rope = rope_parameters(config)[FULL]
    if rope.get("rope_type") != "llama3":
        return []
    dim = head_dim(config)
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


def _as_is(config, name: str, gguf_name: str) -> None:
    return None


def _same_name(name: str) -> str:
    return name


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


def _attention_bias_limit(config) -> str | None:
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "biases on attention or feed-forward layers are not in llama.cpp's graph for it"
    return None


def _full_attention_limit(config) -> str | None:
    """For graphs without a sliding window: every layer must attend to the whole context."""
    if SLIDING in (getattr(config, "layer_types", None) or []):
        return "sliding-window layers are not in llama.cpp's graph for it"
    return _attention_bias_limit(config)


def _smollm3_limits(config) -> str | None:
    """llama.cpp's smollm3 graph skips rope on every fourth layer, whatever the config says."""
    if list(config.no_rope_layers) != [int((i + 1) % 4 != 0) for i in range(config.num_hidden_layers)]:
        return "its layers without rope are not llama.cpp's smollm3 pattern (every fourth layer)"
    return _full_attention_limit(config)


def _olmo2_limits(config) -> str | None:
    return heads_fill_hidden(config) or _attention_bias_limit(config)


def _granite_limits(config) -> str | None:
    if not all((config.attention_multiplier, config.embedding_multiplier, config.residual_multiplier, config.logits_scaling)):
        return "a multiplier of 0 is not written by the converter, and llama.cpp would read 1"
    return heads_fill_hidden(config)


def _gemma2_limits(config) -> str | None:
    """What llama.cpp's gemma2 graph fixes where transformers reads the config."""
    scalar = config.hidden_size // config.num_attention_heads if config.num_hidden_layers == 46 else config.head_dim
    rope = rope_parameters(config)[FULL]
    if config.query_pre_attn_scalar != scalar:
        return f"query_pre_attn_scalar {config.query_pre_attn_scalar} is not {scalar} (llama.cpp scales queries by 1/sqrt({scalar}))"
    if config.attn_logit_softcapping is None or config.final_logit_softcapping is None or config.sliding_window is None:
        return "llama.cpp's gemma2 graph always soft-caps attention and logits and slides a window"
    if list(config.layer_types) != [SLIDING if i % 2 == 0 else FULL for i in range(config.num_hidden_layers)]:
        return "its layer_types are not llama.cpp's gemma2 pattern (every other layer global)"
    if rope["rope_theta"] != 10000.0:
        return f"rope base {rope['rope_theta']} is not written by the converter, and llama.cpp's gemma2 graph uses 10000"
    if getattr(config, "use_bidirectional_attention", False):
        return "bidirectional attention is not a causal model's"
    return _attention_bias_limit(config)


def _phi3_limits(config) -> str | None:
    rope = rope_parameters(config)[FULL]
    if "long_factor" not in rope:
        return None
    expected = int(rope.get("partial_rotary_factor", 1.0) * config.hidden_size) // config.num_attention_heads // 2
    if not len(rope["long_factor"]) == len(rope["short_factor"]) == expected:
        return f"its longrope factors are not {expected} each, one per rotary frequency"
    if rope.get("attention_factor") not in (None, _longrope_attention_factor(config)):
        return "its longrope attention_factor is not the one llama.cpp computes from the context lengths"
    if rope.get("factor") not in (None, _longrope_scale(config)):
        return "its longrope factor is not max_position_embeddings / original_max_position_embeddings, which llama.cpp uses"
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
    layout: Callable[[object, str, str], Callable[[torch.Tensor], torch.Tensor] | None] = _as_is  # (config, HF name, GGUF name): its own layout
    rename: Callable[[str], str] = _same_name  # a Hugging Face name as gguf-py's tensor map knows it
    float32: tuple[str, ...] = ()  # tensor kinds ggml reads only as float32, whatever the file's type
    head: str = "either"  # "tied": the graph has no output matrix; "own": it needs one, a tied model's is a copy

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
    "Phi3ForCausalLM": Architecture(
        MODEL_ARCH.PHI3, "Phi-3/3.5-mini, Phi-4, Phi-4-mini", "silu", ("default", "longrope"), _phi3_keys, _longrope_factors, _phi3_limits
    ),
    "Qwen3ForCausalLM": Architecture(MODEL_ARCH.QWEN3, "Qwen3", "silu", ("default", "linear"), _text_model_keys, limits=_full_attention_limit),
    "SmolLM3ForCausalLM": Architecture(models="SmolLM3", rope_types=("default", "linear"), limits=_smollm3_limits, **{**_LLAMA, "gguf": MODEL_ARCH.SMOLLM3, "extra_tensors": _no_tensors}),
    "Gemma2ForCausalLM": Architecture(
        MODEL_ARCH.GEMMA2, "Gemma-2", "gelu_pytorch_tanh", ("default",), _gemma2_keys, limits=_gemma2_limits, norm_shift=1.0, head="tied"
    ),
    "Olmo2ForCausalLM": Architecture(MODEL_ARCH.OLMO2, "OLMo-2", "silu", ("default", "linear"), _text_model_keys, limits=_olmo2_limits, head="own"),
    "GraniteForCausalLM": Architecture(
        models="Granite-3.x", rope_types=("default", "linear"), limits=_granite_limits, **{**_LLAMA, "gguf": MODEL_ARCH.GRANITE, "keys": _granite_keys, "extra_tensors": _no_tensors}
    ),
    "Lfm2ForCausalLM": Architecture(
        MODEL_ARCH.LFM2, "LFM2, LFM2.5", "silu", ("default",), lfm2_keys, limits=lfm2_limits, layout=lfm2_layout, float32=("shortconv.conv",)
    ),
    "Qwen3_5ForCausalLM": Architecture(
        MODEL_ARCH.QWEN35, "Qwen3.5 (dense, text)", "silu", ("default",), qwen35_keys,
        limits=qwen35_limits, layout=qwen35_layout, rename=qwen35_rename, float32=("ssm_conv1d",),
    ),
}


def architecture_table() -> str:
    """The table docs/export-gguf.md shows (a test keeps the page in step with this)."""
    lines = ["| Hugging Face architecture | llama.cpp architecture | models | rope scaling |", "|---|---|---|---|"]
    lines += [f"| `{hf}` | `{a.name}` | {a.models} | {', '.join(a.rope_types)} |" for hf, a in ARCHITECTURES.items()]
    return "\n".join(lines)


def exported_architectures() -> str:
    """The sentence `export-gguf --help` ends with."""
    listed = ", ".join(f"{hf} ({a.models})" for hf, a in ARCHITECTURES.items())
    return f"architectures exported: {listed}. Any other is refused, saying why, before anything is written."


def _refusal(architecture: Architecture, config) -> str | None:
    activation = getattr(config, "hidden_activation", None) or getattr(config, "hidden_act", architecture.activation)  # LFM2's is fixed
    rope = rope_parameters(config)[FULL].get("rope_type", "default")
    if activation != architecture.activation:
        return f"activation {activation!r} is not llama.cpp's {architecture.activation!r} for {architecture.name}"
    if architecture.head == "tied" and not config.tie_word_embeddings:
        return f"llama.cpp's {architecture.name} graph scores tokens with the input embeddings: an untied output head has no place"
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
