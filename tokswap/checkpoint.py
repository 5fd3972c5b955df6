"""A model's checkpoint: its embedding matrices, and a way to pass every other tensor through untouched.

Safetensors checkpoints are never loaded whole: the architecture is built on the meta device only to learn
which tensors are the embeddings, those are read, and the rest are streamed at save time. GGUF and other
checkpoints go through transformers; a GGUF is dequantized whole once into a cached safetensors folder
(`gguf_reading.conversion`) and read from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

from .errors import TokswapError, first_line
from .gguf_reading import conversion
from .gguf_reading.metadata import gguf_metadata, gguf_tensor_count
from .safetensors_io import TensorEntry, file_entries, read_header
from .specs import Spec

MatrixKind = Literal["input", "output"]


@dataclass
class Embeddings:
    """A model's embedding matrices, the one form every part of tokswap passes them in: `output` is None when
    the model is tied (its input rows also score next tokens)."""

    input: torch.Tensor
    output: torch.Tensor | None = None

    @property
    def tied(self) -> bool:
        return self.output is None

    @property
    def rows(self) -> int:
        return self.input.shape[0]

    @property
    def kinds(self) -> tuple[MatrixKind, ...]:
        return ("input",) if self.tied else ("input", "output")

    def matrix(self, kind: MatrixKind) -> torch.Tensor:
        """The matrix that plays `kind`'s part: a tied model's input rows are its output rows too."""
        return self.output if kind == "output" and self.output is not None else self.input

    def scores_tokens(self, kind: MatrixKind) -> bool:
        """Whether `kind`'s rows score next tokens: the output matrix, or the only matrix of a tied model."""
        return kind == "output" or self.tied

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Embeddings:
        """`fn` applied to each matrix; tied stays tied."""
        return Embeddings(fn(self.input), None if self.output is None else fn(self.output))


@dataclass
class Checkpoint:
    """A model's embeddings, the names they are saved under, and every other tensor as entries to stream."""

    config: PretrainedConfig
    embeddings: Embeddings
    input_name: str
    output_name: str | None
    float_dtype: torch.dtype
    tensors: list[list[TensorEntry]]


def _embedding_modules(model: torch.nn.Module, what: str) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """The input embedding module and the output one, None when it shares the input's weight (tied)."""
    try:
        inp = model.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        inp = None
    if inp is None or getattr(inp, "weight", None) is None:
        raise TokswapError(f"{what} has no input embeddings")
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return inp, None if out is None or out.weight is inp.weight else out


def model_embeddings(model: torch.nn.Module, what: str) -> Embeddings:
    """The live weights of a loaded model's embeddings (no copy)."""
    inp, out = _embedding_modules(model, what)
    return Embeddings(inp.weight, None if out is None else out.weight)


def _embedding_names(model: torch.nn.Module, what: str) -> tuple[str, str | None]:
    """Parameter names of the input and (when untied) output embeddings."""
    inp, out = _embedding_modules(model, what)
    names = {id(module): name for name, module in model.named_modules()}
    return names[id(inp)] + ".weight", None if out is None else names[id(out)] + ".weight"


def _checkpoint_key(name: str, keys: set[str], prefix: str) -> str | None:
    """A parameter's key in a checkpoint, which may carry or lack the base-model prefix."""
    candidates = [name, name.removeprefix(prefix + "."), f"{prefix}.{name}"]
    return next((key for key in candidates if key in keys), None)


def _shards(folder: Path) -> list[Path]:
    """The model's safetensors files, as transformers names them: other safetensors in the folder (a hot
    vocabulary's draft_vocab.safetensors) are not weights."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [folder / name for name in dict.fromkeys(weight_map.values())]
    return [folder / "model.safetensors"] if (folder / "model.safetensors").is_file() else []


def _meta_model(config: PretrainedConfig, what: str) -> torch.nn.Module:
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception as exc:  # noqa: BLE001 - an architecture transformers cannot build is a user error
        raise TokswapError(f"cannot build the architecture of {what}: {first_line(exc)}") from None
    model.tie_weights()
    return model


def _from_safetensors(spec: Spec) -> Checkpoint:
    config = AutoConfig.from_pretrained(spec.path)
    model = _meta_model(config, spec.text)
    input_name, output_name = _embedding_names(model, spec.text)
    groups = [file_entries(path) for path in _shards(spec.path)]
    keys = {entry.name for group in groups for entry in group}
    prefix = model.base_model_prefix
    input_key = _checkpoint_key(input_name, keys, prefix)
    if input_key is None:
        raise TokswapError(f"{spec.text} has no input embedding tensor ({input_name}) in its safetensors files")
    output_key = _checkpoint_key(output_name, keys, prefix) if output_name else None
    if output_name and output_key is None:
        raise TokswapError(f"{spec.text} is untied but has no output embedding tensor ({output_name})")
    skip = {input_key, output_key, None if output_name else _checkpoint_key("lm_head.weight", keys, prefix)}
    by_key = {entry.name: entry for group in groups for entry in group}
    return Checkpoint(
        config=config,
        embeddings=Embeddings(by_key[input_key].load().float(), by_key[output_key].load().float() if output_key else None),
        input_name=input_key,
        output_name=output_key,
        float_dtype=by_key[input_key].dtype,
        tensors=[[entry for entry in group if entry.name not in skip] for group in groups],
    )


def _pretrained(spec: Spec, path: str, **kwargs) -> torch.nn.Module:
    try:
        return AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
    except Exception as exc:  # noqa: BLE001 - unreadable checkpoints and unsupported GGUF architectures
        raise TokswapError(f"cannot load model {spec.text}: {first_line(exc)}") from None


def readable(spec: Spec) -> Spec:
    """A GGUF model as its cached float32 Hugging Face folder (dequantized on first use); other specs as they are."""
    if spec.kind != "gguf":
        return spec
    path, kwargs = spec.gguf_args
    return Spec(spec.text, "folder", conversion.model_folder(spec, lambda: _pretrained(spec, path, **kwargs)))


def _contiguous_input(module: torch.nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:])


def load_causal_lm(spec: Spec) -> torch.nn.Module:
    """A whole model through transformers, in eval mode (GGUF dequantized to float32).

    Its output head reads a contiguous copy of its input. Generating, transformers hands the head the last
    position of every sequence, a strided slice; with the weights frozen (`frozen`), torch multiplies such a
    batch sequence by sequence and makes the transposed head contiguous for each: 10 GB and 40 s for 32
    sequences of Gemma-3 in bfloat16 (heal's `--generated`, which then ran out of memory)."""
    check_weights(spec)
    model = _pretrained(spec, str(readable(spec).path))
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(_contiguous_input)
    return model


def _from_transformers(spec: Spec) -> Checkpoint:
    """A folder without safetensors, loaded whole by transformers."""
    model = load_causal_lm(spec)
    input_name, output_name = _embedding_names(model, spec.text)
    config = model.config
    state = model.state_dict()
    skip = {input_name, output_name} if output_name else {input_name, "lm_head.weight"}
    entries = [
        TensorEntry(name, tensor.dtype, tuple(tensor.shape), lambda tensor=tensor: tensor)
        for name, tensor in state.items()
        if name not in skip
    ]
    return Checkpoint(
        config=config,
        embeddings=Embeddings(state[input_name].float(), state[output_name].float() if output_name else None),
        input_name=input_name,
        output_name=output_name,
        float_dtype=state[input_name].dtype,
        tensors=[entries],
    )


def has_weights(spec: Spec) -> bool:
    if spec.kind == "folder":
        return (spec.path / "config.json").is_file()
    return spec.kind == "gguf" and gguf_tensor_count(spec.path) > 0


def check_weights(spec: Spec) -> None:
    """Every weights file of a model checked before anything reads it: a damaged one is one line naming it."""
    if not has_weights(spec):
        raise TokswapError(f"{spec.text} has no model weights (a tokenizer alone cannot be a source or donor)")
    if spec.kind == "gguf":
        gguf_metadata(spec.path)
    for path in _shards(spec.path) if spec.kind == "folder" else []:
        read_header(path)


def embedding_rows(spec: Spec, tokenizer) -> int | None:
    """Embedding rows of the model behind a tokenizer spec, without loading weights; None for a bare tokenizer.

    A GGUF model's token embedding has one row per vocabulary entry (llama.cpp refuses files where it does
    not), so its tokenizer's length is its row count.
    """
    if not has_weights(spec):
        return None
    if spec.kind == "gguf":
        return len(tokenizer)
    try:
        return int(AutoConfig.from_pretrained(spec.path).get_text_config().vocab_size)
    except Exception as exc:  # noqa: BLE001
        raise TokswapError(f"cannot read the config of {spec.text}: {first_line(exc)}") from None


def load_checkpoint(spec: Spec) -> Checkpoint:
    check_weights(spec)
    spec = readable(spec)
    if spec.kind == "folder" and _shards(spec.path):
        try:
            return _from_safetensors(spec)
        except (OSError, ValueError, KeyError) as exc:
            raise TokswapError(f"cannot read model {spec.text}: {first_line(exc)}") from None
    return _from_transformers(spec)


def frozen(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """A model in float32 on `device`, with no gradients (cast tensor by tensor: transformers refuses
    `.float()` on a model it read from GGUF)."""
    model.requires_grad_(False)
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            tensor.data = tensor.data.float()
    return model.to(device).eval()


# What a model's forward does around its embedding matrices, for the steps that compute part of it by hand
# (they feed `inputs_embeds`, or score final hidden states against rows).
#
# In transformers 5.25, between the embedding lookup and the first layer, and between the final norm and the
# returned logits, of the architectures tokswap moves:
#
# - Gemma-2/3: the embedding module multiplies rows by √hidden (`embed_scale`), so `inputs_embeds` must come
#   multiplied; logits are soft-capped after the head, cap·tanh(z/cap) (`final_logit_softcapping`).
# - Granite: the base model multiplies `inputs_embeds` by `embedding_multiplier` itself, however they came;
#   logits are divided by `logits_scaling` after the head. Its residual and attention multipliers act inside
#   the layers, which every path runs through the model.
# - Llama, Qwen3, SmolLM3, Olmo2, Phi3, Qwen3.5, LFM2: nothing (LFM2's final norm, `embedding_norm`, is in the
#   base model).


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
