"""`tokswap draft-vocab`: a drafter folder, unchanged, with the hot vocabulary its head may keep beside it."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..byte_vocab import byte_vocab
from ..checkpoint import embedding_rows, load_causal_lm
from ..contract import check_same_vocabulary
from ..errors import TokswapError
from ..loading import checked_specs
from ..model_card import is_tokswap_folder, update_report
from ..output_folder import check_destination
from ..staging import published_folder
from ..texts import read_text_file, text_paths
from ..tokenizer_io import load_tokenizer
from .calibration import calibrate, check_keep, choose
from .draft_vocab_file import DRAFT_VOCAB_FILE, save_draft_vocab
from .options import CalibrationOptions


@dataclass(frozen=True)
class HotDrafterReport:
    output: str
    keep: int
    target_rows: int
    end_ids: list[int]
    calibration: dict
    coverage: dict[str, float]
    category_coverage: dict[str, float]
    seconds: float


def stop_ids(model, tokenizer) -> list[int]:
    """Every id the target stops on: a drafter must be able to propose the end of a reply."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in [*ids, tokenizer.eos_token_id] if i is not None})


def _with_hot_vocabulary(report: dict, section: dict) -> None:
    """The copy's report describes the copy: figures measured with the full head are not its own."""
    report.pop("measured", None)
    report["draft_vocab"] = section


def output_folders(out: str | Path, keeps: list[int]) -> list[Path]:
    """One folder per N: `{keep}` in OUT names each when there are several."""
    if len(keeps) == 1:
        return [Path(out)]
    if "{keep}" not in str(out) or len(set(keeps)) != len(keeps):
        raise TokswapError("several different --keep values need an output name with {keep} in it, e.g. -o drafter-{keep}/")
    return [Path(str(out).replace("{keep}", str(keep))) for keep in keeps]


def _check_calibration(calibration: list[str], options: CalibrationOptions) -> None:
    if calibration:
        return
    if options.source == "text":
        raise TokswapError("--source text ranks by the calibration text: give --calibration PATH")
    if not options.built_in:
        raise TokswapError("--no-built-in leaves nothing to calibrate on: give --calibration PATH")


def build_hot_drafters(model: str, target: str, calibration: list[str] | None, keeps: list[int], out: str | Path, options: CalibrationOptions | None = None, force: bool = False) -> list[HotDrafterReport]:
    """One calibration (the built-in prompts and, when given, the calibration text), then a folder per N in
    `keeps`."""
    start = time.perf_counter()
    options = options or CalibrationOptions()
    calibration = calibration or []
    _check_calibration(calibration, options)
    outs = output_folders(out, keeps)
    for folder in outs:
        check_destination(folder, force)
    model_spec, target_spec = checked_specs(model, target)
    if model_spec.kind != "folder":
        raise TokswapError(f"{model} is not a model folder; draft-vocab writes a copy of a folder (a transplant's output, or any Hugging Face model folder)")
    if any(folder.resolve() == model_spec.path.resolve() for folder in outs):
        raise TokswapError("the output is the model folder itself; write the drafter with its hot vocabulary to a new folder")
    texts = [read_text_file(path) for path in text_paths(calibration)]
    target_tokenizer, drafter_tokenizer = load_tokenizer(target_spec), load_tokenizer(model_spec)
    target_rows = embedding_rows(target_spec, target_tokenizer)
    check_same_vocabulary(drafter_tokenizer, embedding_rows(model_spec, drafter_tokenizer), target_tokenizer, target_rows, model)
    for keep in keeps:
        check_keep(keep, [], target_rows)
    target_model = load_causal_lm(target_spec)
    end_ids = stop_ids(target_model, target_tokenizer)
    for keep in keeps:
        check_keep(keep, end_ids, target_rows)
    counts = calibrate(target_model, target_tokenizer, texts, options, end_ids)
    produced = torch.ones(target_rows)  # tokens no text produces come last among those the target never said
    produced[[i for i in byte_vocab(target_tokenizer).unproducible() if i < target_rows]] = 0
    figures = {**asdict(options), "files": calibration, "prompts": counts.prompts, "seconds": round(counts.seconds, 1)}
    reports = []
    for keep, folder in zip(keeps, outs):
        vocab = choose(counts.keys(produced), keep, end_ids)
        section = {
            "file": DRAFT_VOCAB_FILE,
            "keep": keep,
            "target_rows": target_rows,
            "end_ids": end_ids,
            "calibration": figures,
            "coverage": counts.coverage(vocab.target_ids),
            "category_coverage": counts.category_coverage(vocab.target_ids),
        }
        with published_folder(folder, replace=force) as staging:
            shutil.copytree(model_spec.path, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", DRAFT_VOCAB_FILE))
            save_draft_vocab(vocab, staging / DRAFT_VOCAB_FILE, {"target": target, "source": options.source, "keep": str(keep)})
            if is_tokswap_folder(staging):
                update_report(staging, lambda report, section=section: _with_hot_vocabulary(report, section), folder.name)
        reports.append(HotDrafterReport(str(folder), **{k: v for k, v in section.items() if k != "file"}, seconds=round(time.perf_counter() - start, 1)))
    return reports
