"""Options declared once: the command line's flags, its checks and each command page's synopsis all come from
the options dataclasses."""

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from tokswap.cli import _parser, method_options_classes, method_synopsis
from tokswap.drafting.options import CalibrationOptions, DraftSettings
from tokswap.heal.options import HealOptions
from tokswap.hypernet.options import TrainOptions
from tokswap.methods import REGISTRY, checked_options, options_class
from tokswap.options import BUDGET, cli_fields, flag, synopsis
from tokswap.recipes.drafter_options import DrafterOptions

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _block(page: str) -> str:
    """The first code block of a command's page in docs/, whitespace collapsed."""
    block = re.search(r"```\n(.*?)```", (DOCS / page).read_text(), re.S).group(1)
    return " ".join(block.split())


def _flags(parser, *path) -> set[str]:
    for name in path:
        parser = next(a for a in parser._actions if a.dest in ("command", "action")).choices[name]
    return {option for action in parser._actions for option in action.option_strings}


def test_every_method_option_is_a_transplant_flag():
    wanted = {flag(spec) for cls in method_options_classes().values() for spec in cli_fields(cls)}
    assert wanted <= _flags(_parser(), "transplant")
    assert {"--k", "--no-gate", "--aux-model", "--hypernet", "--seed", "--batch-size"} <= wanted


def test_every_training_option_is_a_hypernet_train_flag():
    assert {flag(spec) for spec in cli_fields(TrainOptions)} <= _flags(_parser(), "hypernet", "train")
    assert {spec.name for spec in fields(TrainOptions)} == {spec.name for spec in cli_fields(TrainOptions)}
    assert {flag(spec) for spec in cli_fields(HealOptions)} <= _flags(_parser(), "heal")


def test_the_command_pages_synopses_are_the_dataclasses():
    transplant = _block("transplant.md")
    for line in method_synopsis().splitlines():
        assert " ".join(line.split()) in transplant
    assert synopsis(TrainOptions, skip=BUDGET) in _block("hypernet.md")
    assert synopsis(CalibrationOptions) in _block("draft-vocab.md")
    assert synopsis(HealOptions, skip=BUDGET) in _block("heal.md")
    assert synopsis(DraftSettings) in _block("bench-draft.md")
    assert synopsis(DrafterOptions) in _block("drafter.md")


def test_a_flag_reaches_only_the_method_it_names(capsys, tmp_path):
    from tokswap.cli import main

    assert main(["transplant", "m", "--tokenizer", "t", "-o", str(tmp_path / "o"), "--k", "8"]) == 2
    assert "method 'subword' takes no option 'k'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_defaults_pass_their_own_checks(name):
    options = {"hypernet": "some/folder"} if name == "hypernet" else {}
    assert isinstance(checked_options(name, **options), options_class(name))


def test_bad_values_fail_before_anything_loads(tmp_path):
    """The model does not exist: the option's error comes first, and nothing heavy was imported for it."""
    probe = (
        "import sys; from tokswap.cli import main; "
        f"code = main(['transplant', 'missing-model', '--tokenizer', 'missing', '-o', {str(tmp_path / 'o')!r}, '--method', 'omp', '--k', '0']); "
        "print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False"]
    assert done.stderr.strip() == "tokswap: error: omp needs k >= 1, candidates >= k, probes >= 1, rounds >= 1, ridge >= 0 and batch size >= 1"
    assert not (tmp_path / "o").exists()
