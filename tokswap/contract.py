"""The drafter contract: an output's tokenizer must be indistinguishable from the target's."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .byte_vocab import ROLES
from .errors import TokswapError

PIPELINE_PARTS = ("normalizer", "pre_tokenizer", "decoder")
PROBE_TEXT = "Hello world, 42 äöü 日本語\n\tdef f(x):  return x"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def _check(name: str, ok: bool, failure: str) -> Check:
    return Check(name, ok, "" if ok else failure)


def _added(tokenizer) -> dict[int, tuple[str, bool]]:
    return {i: (tok.content, tok.special) for i, tok in tokenizer.added_tokens_decoder.items()}


def _first_difference(left: dict, right: dict) -> str:
    for key in sorted(set(left) | set(right), key=str):
        if left.get(key) != right.get(key):
            return f"{key!r}: {left.get(key)!r} != {right.get(key)!r}"
    return ""


def tokenizer_checks(output, target) -> list[Check]:
    """Compare a tokenizer with the target's; every failure names what differs."""
    checks = []
    for name, left, right in (("vocab", output.get_vocab(), target.get_vocab()), ("added tokens", _added(output), _added(target))):
        checks.append(_check(name, left == right, _first_difference(left, right)))
    ids = {role: (getattr(output, f"{role}_token_id"), getattr(target, f"{role}_token_id")) for role in ROLES}
    bad = {role: pair for role, pair in ids.items() if pair[0] != pair[1]}
    checks.append(_check("special ids", not bad, ", ".join(f"{r}: {a} != {b}" for r, (a, b) in bad.items())))
    probe = (output(PROBE_TEXT).input_ids, target(PROBE_TEXT).input_ids)
    checks.append(_check("add bos/eos", probe[0] == probe[1], f"{probe[0][:3]}... != {probe[1][:3]}..."))
    checks.append(_check("chat template", output.chat_template == target.chat_template, "templates differ"))
    out_json, tgt_json = (json.loads(t.backend_tokenizer.to_str()) for t in (output, target))
    for part in PIPELINE_PARTS:
        checks.append(_check(part, out_json.get(part) == tgt_json.get(part), f"{part} differs"))
    checks.append(_check("model type", out_json["model"]["type"] == tgt_json["model"]["type"], "model type differs"))
    return checks


def vocabulary_checks(output, target, config_vocab_size: int, target_rows: int) -> list[Check]:
    """The tokenizer checks, and the output config's vocabulary size against the target's rows."""
    size = _check("config vocab_size", config_vocab_size == target_rows, f"{config_vocab_size} != {target_rows}")
    return [*tokenizer_checks(output, target), size]


def check_same_vocabulary(drafter_tokenizer, drafter_rows: int, target_tokenizer, target_rows: int, name: str) -> None:
    """A drafter must speak its target's vocabulary exactly; the first difference is the one line."""
    failed = [c for c in vocabulary_checks(drafter_tokenizer, target_tokenizer, drafter_rows, target_rows) if not c.ok]
    if failed:
        raise TokswapError(f"{name} does not share the target's vocabulary ({failed[0].name}: {failed[0].detail}); run tokswap verify")
