"""What a drafter-ready folder holds besides the weights, and where it may be written."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import GenerationConfig, PretrainedConfig

from .byte_vocab import ROLES
from .errors import TokswapError


def check_destination(out: Path, force: bool) -> None:
    """Fail before any work when the output exists and is not empty, unless --force."""
    if out.exists() and not out.is_dir():
        raise TokswapError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TokswapError(f"{out} exists and is not empty; pass --force to replace it")
    if not out.resolve().parent.is_dir():
        raise TokswapError(f"{out.parent} does not exist")


def output_config(source: PretrainedConfig, rows: int, tokenizer, dtype: torch.dtype) -> PretrainedConfig:
    """The source architecture speaking the target vocabulary: new vocab_size and the target's special ids."""
    config = copy.deepcopy(source)
    for cfg in {id(config): config, id(config.get_text_config()): config.get_text_config()}.values():
        if hasattr(cfg, "vocab_size"):
            cfg.vocab_size = rows
        for role in ROLES:
            if role != "unk" or hasattr(cfg, "unk_token_id"):
                setattr(cfg, f"{role}_token_id", getattr(tokenizer, f"{role}_token_id"))
    config.dtype = dtype
    return config


def generation_config(tokenizer, target_folder: Path | None) -> GenerationConfig:
    """The target model's generation config when it has one, else the target tokenizer's special ids."""
    if target_folder is not None and (target_folder / "generation_config.json").is_file():
        return GenerationConfig.from_pretrained(target_folder)
    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
