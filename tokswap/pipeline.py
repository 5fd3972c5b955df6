"""`transplant`: load → align vocabularies → initialise new rows → assemble → save → verify."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from transformers import AutoTokenizer

from .alignment import AlignmentPlan, align
from .assemble import assemble
from .checkpoint import Embeddings, has_weights
from .contract import vocabulary_checks
from .errors import TokswapError
from .hidden_mean import lowering, shared_direction
from .loading import Model, Target, load_donor, load_model, load_target
from .methods import FillRequest, Method, get_method
from .model_card import write_model_card
from .output_folder import check_destination, generation_config, output_config
from .report import Stopwatch, TransplantReport
from .safetensors_io import TensorEntry, write_checkpoint
from .specs import Spec, resolve
from .staging import published_folder
from .tokenizer_io import save_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TWIN_MARGIN = 10.0  # logits a byte-fallback twin scores below its ordinary token at the mean hidden state


class Companion(Protocol):
    """A file written with the folder (`transplant --gguf`: the same model as a GGUF): refused before any work,
    and written inside the folder's publication, so that neither appears without the other."""

    def check_destination(self, force: bool) -> None: ...

    def check_inputs(self, source: Model, target: Target) -> None: ...

    def write(self, folder: Path) -> None: ...


@dataclass
class Transplanted:
    """The result before it is written: the new matrices and the plan that explains every row."""

    source: Model
    target: Target
    plan: AlignmentPlan
    embeddings: Embeddings
    twins_below: bool = False

    def counts(self) -> dict[str, int]:
        """The plan's counts, and how many byte-fallback twins score below their ordinary tokens (0 when the
        source's hidden states share no direction to lower them along: then each copies its token's rows)."""
        return {**self.plan.counts(), "fallback_twins_below": len(self.plan.twins) if self.twins_below else 0}


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


def transplant_embeddings(source: Model, target: Target, method: Method, donor: Embeddings | None = None, device: str = "cpu") -> Transplanted:
    """The target-vocabulary embeddings of `source`, in memory; tied models stay tied. Byte-fallback twins
    get their ordinary token's rows, moved below it along μ where they score next tokens (reading μ runs the
    source model once, when the target has twins)."""
    matrices = source.weights.embeddings
    plan = align(source.vocab, target.vocab, matrices.rows, target.rows)
    request = FillRequest(plan, source.vocab, target.vocab, matrices, donor, device, source.spec)
    filled = method.fill(request)
    if filled.tied != matrices.tied:
        raise ValueError(f"{method.name} returned rows for the {filled.kinds} matrices of a model that has {matrices.kinds}")
    direction = shared_direction(source.spec) if plan.twins else None
    below = None if direction is None else lowering(direction, TWIN_MARGIN)
    assembled = [
        assemble(plan, matrices.matrix(kind), filled.matrix(kind), f"{method.name} ({kind} embeddings)", below if matrices.scores_tokens(kind) else None)
        for kind in matrices.kinds
    ]
    return Transplanted(source, target, plan, Embeddings(*assembled), below is not None)


def _weight_groups(result: Transplanted, dtype: torch.dtype) -> list[list[TensorEntry]]:
    """The source's own shards (cast when asked), with the new embeddings beside them."""
    weights = result.source.weights
    names = {"input": weights.input_name, "output": weights.output_name}
    new = [(names[kind], result.embeddings.matrix(kind)) for kind in result.embeddings.kinds]
    embedding_entries = [TensorEntry(name, dtype, tuple(t.shape), lambda t=t: t) for name, t in new]
    groups = [[entry.cast(dtype) for entry in group] for group in weights.tensors]
    if len(groups) == 1:
        return [embedding_entries + groups[0]]
    return groups + [embedding_entries]


def save_transplant(
    result: Transplanted, out: Path, dtype: torch.dtype, report: TransplantReport, force: bool, companion: Companion | None = None
) -> None:
    """Write the folder (and its companion file), check its vocabulary against the target, then rename it into
    place: a failed companion leaves neither behind."""
    target = result.target
    clock = Stopwatch(report.timings)
    check_destination(out, force)
    with published_folder(out, replace=True) as folder:
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
        write_model_card(folder, asdict(report), out.name)
        if companion is not None:
            companion.write(folder)


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
    companion: Companion | None = None,
) -> TransplantReport:
    """Move `model` onto `tokenizer`'s vocabulary and write a Hugging Face folder to `out` (and `companion`'s
    file with it: `tokswap.GgufCompanion(path, kind)` for the same model as a GGUF llama.cpp drafts with)."""
    out = Path(out)
    check_destination(out, force)
    if companion is not None:
        companion.check_destination(force)
    chosen = get_method(method, **(method_options or {}))
    if dtype is not None and dtype not in DTYPES:
        raise TokswapError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    target_spec = resolve(tokenizer)
    donor = donor_spec(chosen, donor, target_spec)
    clock = Stopwatch()
    with clock.step("load"):
        source = load_model(model)
        target = load_target(target_spec)
        if companion is not None:  # refused before the work, not after it
            companion.check_inputs(source, target)
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
        tied=source.weights.embeddings.tied,
        source_rows=source.weights.embeddings.rows,
        target_rows=target.rows,
        counts=result.counts(),
        timings=clock.seconds,
    )
    save_transplant(result, out, out_dtype, report, force, companion)
    return report
