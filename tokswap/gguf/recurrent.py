"""The hybrid architectures, whose layers are not all attention: LFM2 (short convolutions) and Qwen3.5 (gated
delta-net linear attention), written as llama.cpp's converter writes them (`conversion/lfm2.py`, the
`Qwen3_5TextModel` chain in `conversion/qwen.py`) for its `lfm2` and `qwen35` graphs.

The keys, the tensor layouts and the limits; `architectures` lists them in its table.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from gguf import GGUFWriter

from .hparams import FULL, head_dim, heads_fill_hidden, rope_parameters

Layout = Callable[[torch.Tensor], torch.Tensor]

# llama.cpp's qwen35 graph L2-normalizes q and k with the model's RMS-norm epsilon, transformers with this one.
_L2_NORM_EPS = 1e-6
# llama.cpp keeps a hybrid model's attention and recurrent states in two caches, and aborts allocating an empty one.
_ONE_KIND = "llama.cpp's {arch} graph needs both {kinds} layers (with one kind missing it aborts allocating an empty cache)"
# The rope sections the converter writes for Qwen3.5 when the config has none (transformers' default too).
_QWEN35_SECTIONS = [11, 11, 10]


def _text_keys(writer: GGUFWriter, config, feed_forward: int, head_count_kv, rms_eps: float) -> None:
    """What the converter's `TextModel` writes, for a dense config without rope scaling."""
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(feed_forward)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(head_count_kv)
    if "mrope_section" in rope_parameters(config)[FULL]:
        writer.add_rope_dimension_sections(_sections(config))
    writer.add_rope_freq_base(float(rope_parameters(config)[FULL]["rope_theta"]))
    writer.add_layer_norm_rms_eps(rms_eps)
    if config.to_dict().get("head_dim") is not None:
        writer.add_key_length(config.head_dim)
        writer.add_value_length(config.head_dim)


# LFM2 ------------------------------------------------------------------------------------------------------------


def lfm2_feed_forward(config) -> int:
    """The feed-forward size as the converter computes it and llama.cpp checks the weights by: transformers' too
    (`Lfm2MLP`), which rounds up only after a multiplier, but transformers 5.25's config never lacks one."""
    size = config.intermediate_size
    if config.block_auto_adjust_ff_dim:
        size = int(2 * size / 3)
        if config.block_ffn_dim_multiplier is not None:
            size = int(config.block_ffn_dim_multiplier * size)
        size = config.block_multiple_of * ((size + config.block_multiple_of - 1) // config.block_multiple_of)
    return size


def lfm2_keys(writer: GGUFWriter, config, rows: int) -> None:
    """The converter's keys: layer kinds only as key/value head counts (0 for a convolution layer), the feed-forward
    size as adjusted, the convolution's length."""
    kv = [config.num_key_value_heads if kind != "conv" else 0 for kind in config.layer_types]
    _text_keys(writer, config, lfm2_feed_forward(config), kv, config.norm_eps)
    writer.add_vocab_size(rows)
    writer.add_shortconv_l_cache(config.conv_L_cache)


def lfm2_limits(config) -> str | None:
    if config.conv_bias:
        return "convolution biases are not in llama.cpp's lfm2 graph"
    if set(config.layer_types) - {"conv", "full_attention"}:
        return f"layer kinds {sorted(set(config.layer_types) - {'conv', 'full_attention'})} are not llama.cpp's lfm2 (convolution, full attention)"
    if reason := heads_fill_hidden(config):
        return reason
    if len(set(config.layer_types)) < 2:
        return _ONE_KIND.format(kinds="convolution and attention", arch="lfm2")
    if config.conv_L_cache < 2:
        return f"a convolution of length {config.conv_L_cache} is not in llama.cpp's lfm2 graph (it needs 2 or more)"
    return None


def lfm2_layout(config, name: str, gguf_name: str) -> Layout | None:
    if name.endswith("conv.conv.weight"):
        return lambda weight: weight.squeeze(1)  # (channels, 1, length) -> (channels, length), as ggml's conv reads it
    return None


# Qwen3.5 ---------------------------------------------------------------------------------------------------------


def _sections(config) -> list[int]:
    sections = list(rope_parameters(config)[FULL].get("mrope_section", _QWEN35_SECTIONS))
    return (sections + [0] * 4)[:4]


def qwen35_keys(writer: GGUFWriter, config, rows: int) -> None:
    """The converter's keys (`Qwen3NextModel`, then Qwen3.5's rope sections): the gated delta net's sizes, which
    layers are linear, the rotated share of a head. gguf-py 0.19 has no `add_recurrent_layers`: the key is written
    by name."""
    _text_keys(writer, config, config.intermediate_size, config.num_key_value_heads, config.rms_norm_eps)
    writer.add_ssm_conv_kernel(config.linear_conv_kernel_dim)
    writer.add_ssm_state_size(config.linear_key_head_dim)
    writer.add_ssm_group_count(config.linear_num_key_heads)
    writer.add_ssm_time_step_rank(config.linear_num_value_heads)
    writer.add_ssm_inner_size(config.linear_value_head_dim * config.linear_num_value_heads)
    writer.add_array(f"{writer.arch}.attention.recurrent_layers", [kind == "linear_attention" for kind in config.layer_types])
    writer.add_full_attention_interval(config.to_dict().get("full_attention_interval", 4))
    writer.add_rope_dimension_count(_qwen35_rope_dimensions(config))
    if "mrope_section" not in rope_parameters(config)[FULL]:
        writer.add_rope_dimension_sections(_sections(config))


def _qwen35_rope_dimensions(config) -> int:
    return int(head_dim(config) * rope_parameters(config)[FULL].get("partial_rotary_factor", 0.25))


def qwen35_limits(config) -> str | None:
    nk, nv = config.linear_num_key_heads, config.linear_num_value_heads
    if config.linear_key_head_dim != config.linear_value_head_dim:
        return "linear attention with key heads unlike value heads in size is not in llama.cpp's qwen35 graph"
    if nv % nk:
        return f"{nv} linear-attention value heads are not a multiple of its {nk} key heads, as llama.cpp's qwen35 graph needs"
    if config.attention_bias:
        return "attention biases are not in llama.cpp's qwen35 graph"
    if config.rms_norm_eps != _L2_NORM_EPS:
        return f"llama.cpp's qwen35 graph L2-normalizes queries and keys with rms_norm_eps {config.rms_norm_eps}, transformers with {_L2_NORM_EPS}"
    if set(config.layer_types) - {"linear_attention", "full_attention"}:
        return f"layer kinds {sorted(set(config.layer_types) - {'linear_attention', 'full_attention'})} are not llama.cpp's qwen35 (linear, full attention)"
    if len(set(config.layer_types)) < 2:
        return _ONE_KIND.format(kinds="linear and full attention", arch="qwen35")
    if sum(_sections(config)) > head_dim(config):
        return f"rope sections {_sections(config)} are wider than head_dim {head_dim(config)}, which ggml's rope refuses"
    if _qwen35_rope_dimensions(config) % 2:
        return f"{_qwen35_rope_dimensions(config)} rotated dimensions per head are not pairs"
    unrotated = _unrotated_pairs(config)
    if unrotated:
        return (
            f"rope sections {_sections(config)} leave rotary pairs {unrotated} to llama.cpp's fourth section, whose position "
            "is 0 for text (left unrotated), where transformers rotates them by the token's position"
        )
    return None


def _unrotated_pairs(config) -> list[int]:
    """The rotary pairs ggml's interleaved multi-section rope (IMROPE) takes from the fourth position, which
    llama.cpp sets to 0 for text tokens (`llm_graph_input_pos::set_input`): those the t, h and w sections leave."""
    t, h, w, e = _sections(config)
    pairs = []
    for pair in range(_qwen35_rope_dimensions(config) // 2):
        sector = pair % (t + h + w + e)
        if not ((sector % 3 == 0 and sector < 3 * t) or (sector % 3 == 1 and sector < 3 * h) or (sector % 3 == 2 and sector < 3 * w)):
            pairs.append(pair)
    return pairs


def qwen35_rename(name: str) -> str:
    """`dt_bias` as the converter renames it, so that gguf-py's map places it (`ssm_dt.bias`)."""
    return name.removesuffix(".dt_bias") + ".dt_proj.bias" if name.endswith(".dt_bias") else name


def _reorder_heads(tensor: torch.Tensor, dim: int, key_heads: int, per_key: int, size: int) -> torch.Tensor:
    """Value heads grouped by key head (transformers repeats each key head for its group) to tiled (ggml repeats
    the key heads as a whole), along `dim`."""
    shape = list(tensor.shape)
    grouped = tensor.reshape(shape[:dim] + [key_heads, per_key, size] + shape[dim + 1 :])
    return grouped.transpose(dim, dim + 1).reshape(shape)


def qwen35_layout(config, name: str, gguf_name: str) -> Layout | None:
    """The converter's changes: value heads reordered where key and value heads differ in number, `-exp(A_log)`,
    the convolution squeezed, and 1 added to the norms that scale by 1 + weight (not the gated one)."""
    if name.endswith("norm.weight"):
        return None if name.endswith("linear_attn.norm.weight") else (lambda weight: weight.float() + 1.0)
    if "linear_attn." not in name:
        return None
    nk, nv, head = config.linear_num_key_heads, config.linear_num_value_heads, config.linear_value_head_dim
    keys = 2 * config.linear_key_head_dim * nk  # q and k channels, before the values

    def heads(tensor: torch.Tensor, dim: int = 0, size: int = head) -> torch.Tensor:
        return tensor if nk == nv else _reorder_heads(tensor, dim, nk, nv // nk, size)

    if name.endswith(".in_proj_qkv.weight"):
        return lambda weight: torch.cat([weight[:keys], heads(weight[keys:])])
    if name.endswith(".conv1d.weight"):
        return lambda weight: (lambda kernel: torch.cat([kernel[:keys], heads(kernel[keys:])]))(weight.squeeze(1))
    if name.endswith(".in_proj_z.weight"):
        return heads
    if name.endswith((".in_proj_a.weight", ".in_proj_b.weight", ".dt_bias")):
        return lambda weight: heads(weight, size=1)
    if name.endswith(".A_log"):
        return lambda weight: -torch.exp(heads(weight, size=1).float())
    if name.endswith(".out_proj.weight"):
        return lambda weight: heads(weight, dim=1)
    return None
