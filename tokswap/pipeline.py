"""`transplant`: load → align vocabularies → initialise new rows → assemble → save → verify."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from .alignment import AlignmentPlan, align
from .assemble import assemble
from .byte_vocab import ByteVocab, byte_vocab
from .errors import TokswapError
from .eval.contract import vocabulary_checks
from .methods import FillRequest, MatrixKind, Method, get_method
from .output_prior import mean_output_input
from .output_folder import (
    check_destination,
    generation_config,
    output_config,
    staged_folder,
)
from .report import Stopwatch, TransplantReport
from .safetensors_io import TensorEntry, write_checkpoint
from .source_model import (
    Embeddings,
    SourceModel,
    embedding_rows,
    has_weights,
    load_causal_lm,
    load_embeddings,
    load_source,
)
from .specs import Spec, resolve
from .tokenizer_io import load_tokenizer, save_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Model:
    """A model's weights with the tokenizer it was trained on."""

    weights: SourceModel
    tokenizer: object
    vocab: ByteVocab


@dataclass
class Target:
    spec: Spec
    tokenizer: object
    vocab: ByteVocab
    rows: int


@dataclass
class Transplanted:
    """The result before it is written: new matrices and the plan that explains every row."""

    source: Model
    target: Target
    plan: AlignmentPlan
    input_embeddings: torch.Tensor
    output_embeddings: torch.Tensor | None


def load_model(text: str) -> Model:
    spec = resolve(text)
    weights = load_source(spec)
    tokenizer = load_tokenizer(spec)
    return Model(weights, tokenizer, byte_vocab(tokenizer))


def load_target(text: str | Spec) -> Target:
    spec = text if isinstance(text, Spec) else resolve(text)
    tokenizer = load_tokenizer(spec)
    vocab = byte_vocab(tokenizer)
    rows = embedding_rows(spec, tokenizer)
    return Target(spec, tokenizer, vocab, len(vocab) if rows is None else rows)


def donor_spec(method: Method, donor: str | None, target: Spec) -> Spec | None:
    """The donor a method needs: `--donor`, else the target when it is a model (it has the target tokenizer)."""
    if not method.uses_donor:
        if donor is not None:
            raise TokswapError(f"method {method.name!r} does not use a donor; drop --donor")
        return None
    if donor is not None:
        return resolve(donor)
    if has_weights(target):
        return target
    raise TokswapError(f"method {method.name!r} needs --donor MODEL (a model that has the target tokenizer)")


def load_donor(spec: Spec, target: Target) -> Embeddings:
    """The donor's embeddings, after checking its vocabulary is the target's byte for byte."""
    vocab = target.vocab if spec == target.spec else byte_vocab(load_tokenizer(spec))
    pairs = zip(vocab.token_bytes, target.vocab.token_bytes, vocab.special, target.vocab.special)
    differ = next((i for i, (a, b, sa, sb) in enumerate(pairs) if a != b or sa != sb), None)
    if differ is None and len(vocab) != len(target.vocab):
        differ = min(len(vocab), len(target.vocab))
    if differ is not None:
        raise TokswapError(f"donor {spec.text} does not have the target tokenizer (vocabularies differ at id {differ})")
    return load_embeddings(spec)


def transplant_embeddings(source: Model, target: Target, method: Method, donor: Embeddings | None = None, device: str = "cpu") -> Transplanted:
    """The target-vocabulary embeddings of `source`, in memory; tied models stay tied."""
    plan = align(source.vocab, target.vocab, source.weights.rows, target.rows)
    weights = source.weights
    matrices = Embeddings(weights.input_embeddings, weights.output_embeddings)

    @cache
    def output_prior() -> torch.Tensor:
        return mean_output_input(load_causal_lm(weights.spec), source.tokenizer)

    def matrix(kind: MatrixKind, rows: torch.Tensor) -> torch.Tensor:
        request = FillRequest(plan, source.vocab, target.vocab, rows, kind, donor, device, matrices, output_prior)
        return assemble(plan, rows, method.fill(request), f"{method.name} ({kind} embeddings)")

    inputs = matrix("input", weights.input_embeddings)
    outputs = None if weights.tied else matrix("output", weights.output_embeddings)
    return Transplanted(source, target, plan, inputs, outputs)


def _weight_groups(result: Transplanted, dtype: torch.dtype) -> list[list[TensorEntry]]:
    """The source's own shards (cast when asked), with the new embeddings beside them."""
    weights = result.source.weights
    new = [(weights.input_name, result.input_embeddings)]
    if result.output_embeddings is not None:
        new.append((weights.output_name, result.output_embeddings))
    embedding_entries = [TensorEntry(name, dtype, tuple(t.shape), lambda t=t: t) for name, t in new]
    groups = [[entry.cast(dtype) for entry in group] for group in weights.tensors]
    if len(groups) == 1:
        return [embedding_entries + groups[0]]
    return groups + [embedding_entries]


def save_transplant(result: Transplanted, out: Path, dtype: torch.dtype, report: TransplantReport, force: bool) -> None:
    """Write the folder, check its vocabulary against the target, then rename it into place."""
    from transformers import AutoTokenizer

    target = result.target
    clock = Stopwatch(report.timings)
    with staged_folder(out, force) as folder:
        with clock.step("write_weights"):
            report.files = write_checkpoint(folder, _weight_groups(result, dtype))
        config = output_config(result.source.weights.config, target.rows, target.tokenizer, dtype)
        config.save_pretrained(folder)
        generation_config(target.tokenizer, target.spec.path if target.spec.kind == "folder" else None).save_pretrained(folder)
        save_tokenizer(target.tokenizer, target.spec, folder)
        failed = [c for c in vocabulary_checks(AutoTokenizer.from_pretrained(folder), target.tokenizer, config.get_text_config().vocab_size, target.rows) if not c.ok]
        if failed:
            raise TokswapError(f"output tokenizer differs from the target ({failed[0].name}: {failed[0].detail}); nothing was written")
        report.write(folder)


def transplant(
    model: str,
    tokenizer: str,
    out: str | Path,
    *,
    method: str = "subword",
    method_options: dict | None = None,
    donor: str | None = None,
    dtype: str | None = None,
    device: str = "cpu",
    force: bool = False,
) -> TransplantReport:
    """Move `model` onto `tokenizer`'s vocabulary and write a Hugging Face folder to `out`."""
    out = Path(out)
    check_destination(out, force)
    chosen = get_method(method, **(method_options or {}))
    if dtype is not None and dtype not in DTYPES:
        raise TokswapError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    target_spec = resolve(tokenizer)
    donor = donor_spec(chosen, donor, target_spec)
    clock = Stopwatch()
    with clock.step("load"):
        source = load_model(model)
        target = load_target(target_spec)
        donor_embeddings = load_donor(donor, target) if donor is not None else None
    with clock.step("transplant"):
        result = transplant_embeddings(source, target, chosen, donor_embeddings, device)
    out_dtype = DTYPES[dtype] if dtype else source.weights.float_dtype
    report = TransplantReport(
        source=model,
        target=tokenizer,
        donor=donor.text if donor is not None else None,
        method=method,
        method_options=method_options or {},
        dtype=str(out_dtype).removeprefix("torch."),
        tied=source.weights.tied,
        source_rows=source.weights.rows,
        target_rows=target.rows,
        counts=result.plan.counts(),
        timings=clock.seconds,
    )
    save_transplant(result, out, out_dtype, report, force)
    return report
