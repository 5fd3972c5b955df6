"""`tokswap verify`: is an output folder a drop-in drafter for the target? Every check says what differs."""

from __future__ import annotations

from pathlib import Path

from ..contract import Check, vocabulary_checks
from ..errors import TokswapError
from ..golden import mismatches, read_golden
from ..loading import load_target
from ..specs import resolve
from ..tokenizer_io import load_tokenizer
from .evaluate import read_text_file, text_files

CONTEXT = 20


def _around(text: bytes, at: int) -> str:
    return repr(text[max(0, at - CONTEXT) : at + CONTEXT])


def text_equivalence(name: str, output, target, text: str) -> Check:
    """Same ids as the target on `text`, and decoding them gives back its exact bytes."""
    ours = output(text, add_special_tokens=False).input_ids
    theirs = target(text, add_special_tokens=False).input_ids
    if ours != theirs:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        offset = len(output.decode(ours[:at]).encode("utf-8"))
        return Check(f"ids {name}", False, f"token {at} (byte {offset}): {ours[at:at + 3]} != {theirs[at:at + 3]} near {_around(text.encode(), offset)}")
    data, decoded = text.encode("utf-8"), output.decode(ours).encode("utf-8")
    if decoded != data:
        at = next((i for i, (a, b) in enumerate(zip(decoded, data)) if a != b), min(len(decoded), len(data)))
        return Check(f"bytes {name}", False, f"decoded text differs at byte {at}: {_around(decoded, at)} != {_around(data, at)}")
    return Check(f"bytes {name}", True, f"{len(ours)} tokens, {len(data)} bytes")


def golden_check(path: Path, tokenizer) -> Check:
    cases = read_golden(path)
    failures = mismatches(tokenizer, cases)
    detail = f"{len(cases) - len(failures)}/{len(cases)} match"
    if failures:
        first = failures[0]
        detail += f"; first failure {first.text[:40]!r}: {tokenizer.encode(first.text, add_special_tokens=False)[:8]} != {first.ids[:8]}"
    return Check(f"golden {path.name}", not failures, detail)


def _config_vocab_size(folder: Path) -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder).get_text_config().vocab_size


def verify(out: str, target: str, data: list[str] = (), golden: list[str] = ()) -> list[Check]:
    folder = Path(out)
    if not (folder / "config.json").is_file():
        raise TokswapError(f"{out}: not a model folder (no config.json)")
    output = load_tokenizer(resolve(out))
    wanted = load_target(target)
    checks = vocabulary_checks(output, wanted.tokenizer, _config_vocab_size(folder), wanted.rows)
    for name, path in text_files(list(data)).items():
        checks.append(text_equivalence(name, output, wanted.tokenizer, read_text_file(path)))
    checks += [golden_check(Path(path), output) for path in golden]
    return checks
