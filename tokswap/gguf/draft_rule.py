"""llama.cpp's rule for pairing a draft model with a target (`common_speculative_are_compatible` in
`common/speculative.cpp`), applied to two GGUF vocabularies before llama.cpp ever sees them."""

from __future__ import annotations

from ..contract import Check
from .vocab import TOKENS, Vocabulary

MAX_SIZE_DIFFERENCE = 128
FIRST_CHECKED_ID = 5
# What llama.cpp assumes when a file does not say whether it adds BOS/EOS (src/llama-vocab.cpp); for `gpt2`
# vocabularies it depends on the pre-tokenizer, so only files that agree on the key itself agree here.
_DEFAULT_ADD = {"llama": (True, False), "bert": (True, False), "t5": (False, True), "rwkv": (False, False)}


def _value(vocabulary: Vocabulary, key: str):
    field = vocabulary.get(key)
    return None if field is None else field.value


def _adds(vocabulary: Vocabulary) -> tuple[bool | None, bool | None]:
    default = _DEFAULT_ADD.get(_model(vocabulary), (None, None))
    bos, eos = _value(vocabulary, "tokenizer.ggml.add_bos_token"), _value(vocabulary, "tokenizer.ggml.add_eos_token")
    return default[0] if bos is None else bos, default[1] if eos is None else eos


def _model(vocabulary: Vocabulary) -> str | None:
    model = _value(vocabulary, "tokenizer.ggml.model")
    return None if model is None else model.decode("utf-8", "replace")


def _role(name: str, index: int, drafter: Vocabulary, target: Vocabulary) -> Check:
    added = _adds(target)[index], _adds(drafter)[index]
    key = f"tokenizer.ggml.{name}_token_id"
    ids = _value(target, key), _value(drafter, key)
    ok = added[0] == added[1] and (not added[0] or ids[0] == ids[1])
    return Check(f"llama.cpp {name.upper()}", ok, "" if ok else f"adds {name.upper()}: target {added[0]}, drafter {added[1]}; id: target {ids[0]}, drafter {ids[1]}")


def _token_texts(drafter: Vocabulary, target: Vocabulary) -> Check:
    theirs, ours = target[TOKENS].value, drafter[TOKENS].value
    differ = [i for i in range(FIRST_CHECKED_ID, min(len(theirs), len(ours))) if theirs[i] != ours[i]]
    if differ:
        i = differ[0]
        return Check("llama.cpp token texts", False, f"{len(differ)} differ; first id {i}: target {theirs[i]!r}, drafter {ours[i]!r}")
    return Check("llama.cpp token texts", True, f"ids {FIRST_CHECKED_ID}..{min(len(theirs), len(ours)) - 1} identical")


def draft_compatibility(drafter: Vocabulary, target: Vocabulary) -> list[Check]:
    """Each part of llama.cpp's rule as a check: vocabulary type, BOS and EOS, size within 128, token texts."""
    if TOKENS not in drafter or TOKENS not in target:
        which = "drafter" if TOKENS not in drafter else "target"
        return [Check("llama.cpp vocabulary", False, f"the {which} GGUF has no tokenizer.ggml.tokens")]
    models = _model(target), _model(drafter)
    sizes = len(target[TOKENS].value), len(drafter[TOKENS].value)
    return [
        Check("llama.cpp vocab type", models[0] == models[1], f"target {models[0]!r}, drafter {models[1]!r}"),
        _role("bos", 0, drafter, target),
        _role("eos", 1, drafter, target),
        Check(
            "llama.cpp vocab size",
            abs(sizes[0] - sizes[1]) <= MAX_SIZE_DIFFERENCE,
            f"target {sizes[0]}, drafter {sizes[1]} (at most {MAX_SIZE_DIFFERENCE} apart)",
        ),
        _token_texts(drafter, target),
    ]


def same_tokenization(drafter: Vocabulary, target: Vocabulary) -> Check:
    """llama.cpp tokenizes from the `tokenizer.ggml.*` keys alone, so two files that share them all give the same
    ids on every text; the chat template and other keys do not take part."""
    keys = sorted({key for key in (*drafter, *target) if key.startswith("tokenizer.ggml.")})
    differ = [key for key in keys if drafter.get(key) != target.get(key)]
    if differ:
        return Check("llama.cpp tokenization", False, f"{len(differ)} tokenizer keys differ: {', '.join(differ)}")
    return Check("llama.cpp tokenization", True, f"all {len(keys)} tokenizer.ggml keys are the target's, so every text gets the same ids")
