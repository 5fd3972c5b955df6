"""Options declared once: a dataclass field carries its default, help text and command-line form, a `check`
validates the values, and the command line and the synopses on the command pages (`docs/`) come from the
same fields.

Kept free of torch and transformers so the command line can build its parser and refuse bad values before
anything heavy is imported or loaded.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar

from .errors import TokswapError

# Weight types `export-gguf` (and `transplant --gguf`) write; norms and biases always stay f32.
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
SCHEDULES = ("constant", "inverse-sqrt")

def option(default: Any, help: str, *, metavar: str | None = None, choices: tuple[str, ...] | None = None, parse: Callable[[str], Any] | None = None) -> Any:
    """A field that is also a command-line flag. A boolean is a switch (`--no-NAME` when it defaults to True);
    `parse` turns the flag's text into the value when the field's type alone does not."""
    return field(default=default, metadata={"help": help, "metavar": metavar, "choices": choices, "parse": parse})


@dataclass
class Options:
    """Values are checked as soon as they are set: bad ones never reach a loaded model."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise TokswapError naming what is wrong."""


@dataclass
class LoopOptions(Options):
    """How long and where a training run goes; every training command has these. A resumed run keeps its saved
    options but those named in `resumable`."""

    resumable: ClassVar[tuple[str, ...]] = ("steps", "minutes", "device", "save_every")
    steps: int | None = option(None, "train until this many steps in all")
    minutes: float | None = option(None, "train for this many minutes in this invocation")
    device: str | None = option(None, "where to train (default: what accelerate picks)", metavar="cpu|cuda")
    seed: int = option(0, "seed of the run's text and initial weights")
    save_every: int = option(50, "steps between checkpoints")
    lr: float = option(1e-3, "peak learning rate (AdamW)")
    warmup: int = option(20, "steps of linear warm-up")
    schedule: str = option("constant", "learning rate after the warm-up: constant, or falling as the inverse square root of the step", choices=SCHEDULES)
    clip: float = option(1.0, "gradient norm clip")

    def check(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise TokswapError("give exactly one of --steps N or --minutes M")
        if (self.steps is not None and self.steps < 1) or (self.minutes is not None and self.minutes <= 0):
            raise TokswapError("--steps and --minutes must be positive")
        if self.save_every < 1 or self.warmup < 1:
            raise TokswapError("the save interval and the warm-up must be >= 1")
        if self.lr <= 0 or self.clip <= 0:
            raise TokswapError("the learning rate and the gradient clip must be positive")


BUDGET = ("steps", "minutes")


def flag(spec: Field) -> str:
    return ("--no-" if spec.default is True else "--") + spec.name.replace("_", "-")


def _value_type(cls: type, spec: Field) -> Callable[[str], Any]:
    """What argparse converts a flag's text with: `parse`, else the field's type (`int | None` → int)."""
    if spec.metadata.get("parse"):
        return spec.metadata["parse"]
    hint = typing.get_type_hints(cls)[spec.name]
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def cli_fields(cls: type) -> list[Field]:
    return [spec for spec in fields(cls) if "help" in spec.metadata]


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, owners: dict[str, type], skip: tuple[str, ...] = ()) -> None:
    """One flag per option name across `owners` (label → options class; an empty label for a command's own
    options). A flag left out stays None, so only what the user gave reaches the options class, which then
    applies its own default; fields several owners share become one flag whose help names each default."""
    merged: dict[str, list[tuple[str, type, Field]]] = {}
    for label, cls in owners.items():
        for spec in cli_fields(cls):
            if spec.name not in skip:
                merged.setdefault(spec.name, []).append((label, cls, spec))
    for name, found in merged.items():
        _, cls, spec = found[0]
        helps = [f"{label + ': ' if label else ''}{s.metadata['help']}{_default_note(s)}" for label, _, s in found]
        if isinstance(spec.default, bool):
            parser.add_argument(flag(spec), dest=name, action="store_false" if spec.default else "store_true", default=None, help="; ".join(helps))
            continue
        parser.add_argument(
            flag(spec), dest=name, type=_value_type(cls, spec), default=None, choices=spec.metadata["choices"], metavar=spec.metadata["metavar"], help="; ".join(helps)
        )


def _default_note(spec: Field) -> str:
    if isinstance(spec.default, bool) or spec.default is None:
        return ""
    return f" (default {spec.default})"


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The options of `cls` the user gave on the command line."""
    return {spec.name: getattr(args, spec.name) for spec in cli_fields(cls) if getattr(args, spec.name, None) is not None}


def synopsis(cls: type, skip: tuple[str, ...] = ()) -> str:
    """`[--flag VALUE]` for every option: the default where there is one, else the metavar (or N)."""
    parts = []
    for spec in cli_fields(cls):
        if spec.name in skip:
            continue
        if isinstance(spec.default, bool):
            parts.append(f"[{flag(spec)}]")
            continue
        if spec.metadata["choices"]:
            value = "|".join(spec.metadata["choices"])
        elif spec.default is None:
            value = spec.metadata["metavar"] or "N"
        else:
            value = spec.default
        parts.append(f"[{flag(spec)} {value}]")
    return " ".join(parts)
