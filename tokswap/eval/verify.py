"""`tokswap verify`: is an output folder a drop-in drafter for the target? Every check says what differs."""

from __future__ import annotations

from pathlib import Path

from ..contract import PROBE_TEXT, Check, vocabulary_checks
from ..errors import TokswapError
from ..gguf.draft_rule import draft_compatibility, same_tokenization
from ..gguf_reading.golden import mismatches, read_golden
from ..gguf.vocab import vocabulary_from_gguf
from ..loading import load_target
from ..specs import resolve
from ..texts import read_text_file, text_files
from ..tokenizer_io import load_tokenizer

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


def _text_checks(output, target, data: list[str], golden: list[str]) -> list[Check]:
    checks = [text_equivalence(name, output, target, read_text_file(path)) for name, path in text_files(list(data)).items()]
    return checks + [golden_check(Path(path), output) for path in golden]


def verify_gguf(out: str, target: str, data: list[str] = (), golden: list[str] = ()) -> list[Check]:
    """A GGUF drafter against a GGUF target: llama.cpp's pairing rule on both files' metadata, then the ids. Files
    with the target's tokenizer keys get the same ids from llama.cpp by construction; others are compared on the
    texts (a built-in probe when no --data is given) as tokswap reads each file."""
    drafter, wanted = resolve(out), resolve(target)
    if wanted.kind != "gguf" or drafter.kind != "gguf":
        raise TokswapError(f"llama.cpp's rule compares two GGUF files; {target if wanted.kind != 'gguf' else out} is not one")
    ours, theirs = vocabulary_from_gguf(drafter.path), vocabulary_from_gguf(wanted.path)
    tokenization = same_tokenization(ours, theirs)
    checks = [*draft_compatibility(ours, theirs), tokenization]
    if tokenization.ok:
        texts = text_files(list(data))
        if texts:
            checks.append(Check("ids on texts", True, f"{len(texts)} texts: the same ids as the target by the tokenizer keys alone"))
        return checks + [golden_check(Path(path), load_tokenizer(drafter)) for path in golden]
    output, reference = load_tokenizer(drafter), load_tokenizer(wanted)
    if not data:
        checks.append(text_equivalence("probe", output, reference, PROBE_TEXT))
    return checks + _text_checks(output, reference, data, golden)


def verify(out: str, target: str, data: list[str] = (), golden: list[str] = ()) -> list[Check]:
    if out.endswith(".gguf"):
        return verify_gguf(out, target, data, golden)
    folder = Path(out)
    if not (folder / "config.json").is_file():
        raise TokswapError(f"{out}: not a model folder (no config.json)")
    output = load_tokenizer(resolve(out))
    wanted = load_target(target)
    checks = vocabulary_checks(output, wanted.tokenizer, _config_vocab_size(folder), wanted.rows)
    return checks + _text_checks(output, wanted.tokenizer, data, golden)
