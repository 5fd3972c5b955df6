"""`export-gguf`: a model folder as the GGUF file llama.cpp runs as a drafter.

The vocabulary is the part llama.cpp is strict about (`draft_rule`), so it comes verbatim from the
target's own GGUF whenever there is one: `--vocab-from`, else the target named in the folder's
`tokswap_report.json` when that is a GGUF. Tensors are renamed with gguf-py's map for the architecture, laid
out for llama.cpp's graph as `architectures` says, and written one at a time, so memory stays near the size of
the largest tensor plus the embeddings.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from gguf import GGML_QUANT_SIZES, GGML_QUANT_VERSION, GGMLQuantizationType, GGUFValueType, GGUFWriter, LlamaFileType, get_tensor_name_map, quants

from ..byte_vocab import byte_vocab, first_difference
from ..checkpoint import load_checkpoint
from ..errors import TokswapError
from ..options import GGUF_TYPES
from ..report import REPORT_FILE
from ..specs import Spec, local_gguf, resolve
from ..staging import published_file
from ..tokenizer_io import load_tokenizer
from .architectures import Architecture, check_exportable
from .draft_rule import draft_compatibility
from ..gguf_reading.metadata import gguf_metadata
from .model_name import gguf_model_name
from .vocab import Vocabulary, token_count, vocabulary_from_gguf, vocabulary_from_tokenizer


@dataclass
class GgufExport:
    path: str
    type: str
    vocabulary: str
    tensors: int
    bytes: int
    seconds: float


def check_gguf_request(out: Path, kind: str, force: bool) -> None:
    """Refuse a bad weight type or destination before any work."""
    if kind not in GGUF_TYPES:
        raise TokswapError(f"unknown GGUF type {kind!r}; choose one of: {', '.join(GGUF_TYPES)}")
    if out.suffix != ".gguf":
        raise TokswapError(f"{out}: a GGUF file name must end in .gguf")
    if out.is_dir():
        raise TokswapError(f"{out} is a folder")
    if out.exists() and not force:
        raise TokswapError(f"{out} exists; pass --force to replace it")
    if not out.resolve().parent.is_dir():
        raise TokswapError(f"{out.parent} does not exist")


def _qk_to_llamacpp(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """llama.cpp's rotary embedding pairs neighbouring dimensions, Hugging Face's pairs the two halves of a head;
    reorder each head's rows so the same pairs rotate together."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).transpose(1, 2).reshape(weight.shape)


@dataclass
class _Planned:
    """One weight as it goes into the file: its GGUF name and shape, and how to read it laid out for llama.cpp."""

    name: str
    shape: tuple[int, ...]
    load: Callable[[], torch.Tensor]


def _kind(gguf_name: str) -> str:
    """`blk.3.ssm_conv1d.weight` -> `ssm_conv1d`: a tensor's kind within a block."""
    parts = gguf_name.split(".")
    return ".".join(parts[2:-1] if parts[0] == "blk" else parts[:-1])


def _ggml_type(kind: str, tensor: _Planned, architecture: Architecture) -> GGMLQuantizationType:
    shape = tensor.shape
    if len(shape) < 2 or kind == "f32" or _kind(tensor.name) in architecture.float32:
        return GGMLQuantizationType.F32  # norms, biases and what ggml reads only as float32, as the converter keeps them
    wanted = GGMLQuantizationType[kind.upper()]
    return wanted if shape[-1] % GGML_QUANT_SIZES[wanted][0] == 0 else GGMLQuantizationType.F16


def _encoded(tensor: torch.Tensor, qtype: GGMLQuantizationType) -> np.ndarray:
    return quants.quantize(tensor.detach().to(torch.float32).numpy(), qtype)


def _nbytes(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> int:
    block, size = GGML_QUANT_SIZES[qtype]
    return math.prod(shape) // block * size


def _layout(architecture: Architecture, config, name: str, gguf_name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """How a Hugging Face tensor becomes the one llama.cpp's graph reads, when it is not as it is."""
    own = architecture.layout(config, name, gguf_name)
    if own is not None:
        return own
    kind = _kind(gguf_name)
    if architecture.rotate_pairs and kind in ("attn_q", "attn_k"):
        heads = config.num_attention_heads if kind == "attn_q" else config.num_key_value_heads
        return lambda weight: _qk_to_llamacpp(weight, heads)
    if architecture.norm_shift and name.endswith("norm.weight"):
        return lambda weight: weight.float() + architecture.norm_shift
    return None


def _plan(checkpoint, config, architecture: Architecture) -> list[_Planned]:
    names = get_tensor_name_map(architecture.gguf, config.num_hidden_layers)
    embeddings = checkpoint.embeddings
    named = [(checkpoint.input_name, tuple(embeddings.input.shape), lambda: embeddings.input)]
    named += [
        (entry.name, entry.shape, entry.load)
        for group in checkpoint.tensors
        for entry in group
        if not entry.name.endswith("rotary_emb.inv_freq")
    ]
    if not embeddings.tied:
        named.append((checkpoint.output_name, tuple(embeddings.output.shape), lambda: embeddings.output))
    elif architecture.head == "own":  # llama.cpp's graph reads an output matrix and never falls back to the input's
        named.append(("lm_head.weight", tuple(embeddings.input.shape), lambda: embeddings.input))
    plan = [_Planned(name, tuple(tensor.shape), lambda tensor=tensor: tensor) for name, tensor in architecture.extra_tensors(config)]
    for name, shape, load in named:
        gguf_name = names.get_name(architecture.rename(name), try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise TokswapError(f"tensor {name} has no place in a llama.cpp {architecture.name} model")
        layout = _layout(architecture, config, name, gguf_name)
        if layout is not None:  # its shape as laid out, computed without data
            shape, load = tuple(layout(torch.empty(shape, device="meta")).shape), lambda load=load, layout=layout: layout(load())
        plan.append(_Planned(gguf_name, shape, load))
    return plan


def _add_file_type(writer: GGUFWriter, kind: str) -> None:
    file_types = {"f32": LlamaFileType.ALL_F32, "f16": LlamaFileType.MOSTLY_F16, "bf16": LlamaFileType.MOSTLY_BF16, "q8_0": LlamaFileType.MOSTLY_Q8_0}
    writer.add_file_type(file_types[kind])
    if kind == "q8_0":
        writer.add_quantization_version(GGML_QUANT_VERSION)


def write_gguf(path: Path, checkpoint, architecture: Architecture, vocabulary: Vocabulary, kind: str, name: str) -> int:
    """Write `checkpoint` with `vocabulary` to `path` as llama.cpp's `architecture`, streaming one tensor at a
    time; returns the number of tensors."""
    config = checkpoint.config.get_text_config()
    plan = _plan(checkpoint, config, architecture)
    writer = GGUFWriter(None, architecture.name)
    writer.add_name(name)
    architecture.keys(writer, config, checkpoint.embeddings.rows)
    _add_file_type(writer, kind)
    for key, field in vocabulary.items():
        item = None if field.item_type is None else GGUFValueType(field.item_type)
        writer.add_key_value(key, field.value, GGUFValueType(field.type), item)
    types = [_ggml_type(kind, tensor, architecture) for tensor in plan]
    for tensor, qtype in zip(plan, types):
        writer.add_tensor_info(tensor.name, tensor.shape, np.dtype(np.float32), _nbytes(tensor.shape, qtype), raw_dtype=qtype)
    try:
        writer.write_header_to_file(path)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor, qtype in zip(plan, types):
            writer.write_tensor_data(_encoded(tensor.load(), qtype))
    finally:
        writer.close()
    return len(plan)


def _report_target(spec: Spec) -> Spec | None:
    """The GGUF a tokswap folder was transplanted onto, when its report names one reachable without the hub."""
    report = spec.path / REPORT_FILE if spec.kind == "folder" else None
    if report is None or not report.is_file():
        return None
    return local_gguf(json.loads(report.read_text()).get("target", ""))


@dataclass
class _VocabularySource:
    vocabulary: Vocabulary
    origin: str
    gguf_name: str | None  # `general.name` of the GGUF it was copied from


def _vocabulary(spec: Spec, rows: int, vocab_from: str | None) -> _VocabularySource:
    """The llama.cpp vocabulary to write and where it came from. A source given with `--vocab-from` must have the
    model's vocabulary byte for byte; the target in a folder's report was checked when the folder was written."""
    source = resolve(vocab_from) if vocab_from else _report_target(spec) or spec
    tokenizer = load_tokenizer(source) if vocab_from or source.kind != "gguf" else None
    if vocab_from:
        differ = first_difference(byte_vocab(tokenizer), byte_vocab(load_tokenizer(spec)))
        if differ is not None:
            raise TokswapError(f"{source.text} does not have the vocabulary of {spec.text} (they differ at id {differ})")
    if source.kind == "gguf":
        name = gguf_metadata(source.path).get("general.name")
        return _VocabularySource(vocabulary_from_gguf(source.path), f"tokenizer.* of {source.path.name}, verbatim", name)
    return _VocabularySource(vocabulary_from_tokenizer(tokenizer, rows, source.text), f"written from the tokenizer of {source.text}", None)


def export_gguf(model: str, out: str | Path, *, vocab_from: str | None = None, kind: str = "f16", force: bool = False) -> GgufExport:
    """Write `model` as a GGUF file llama.cpp accepts as a drafter for the target whose vocabulary it has."""
    out = Path(out)
    check_gguf_request(out, kind, force)
    start = time.perf_counter()
    spec = resolve(model)
    checkpoint = load_checkpoint(spec)
    architecture = check_exportable(checkpoint.config, spec.text)
    rows = checkpoint.embeddings.rows
    source = _vocabulary(spec, rows, vocab_from)
    vocabulary = source.vocabulary
    if token_count(vocabulary) != rows:
        raise TokswapError(f"{spec.text} has {rows} embedding rows but its vocabulary {token_count(vocabulary)} tokens; llama.cpp needs one row per token")
    with published_file(out) as staging:
        tensors = write_gguf(staging, checkpoint, architecture, vocabulary, kind, gguf_model_name(out.stem, source.gguf_name))
        failed = [check for check in draft_compatibility(vocabulary_from_gguf(staging), vocabulary) if not check.ok]
        if failed:
            raise TokswapError(f"the written vocabulary differs from its source ({failed[0].name}: {failed[0].detail}); nothing was written")
    return GgufExport(str(out), kind, source.origin, tensors, out.stat().st_size, round(time.perf_counter() - start, 2))
