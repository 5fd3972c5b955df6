"""A vocabulary as llama.cpp reads it: the `tokenizer.*` metadata of a GGUF file.

llama.cpp accepts a drafter only when its vocabulary is the target's, token text for token text (see
`draft_rule`). The surest way is to carry the target GGUF's own keys over verbatim, types and all; a
tokenizer that never was a GGUF is written the way llama.cpp's converter writes its family, which tokswap can
do for byte-level BPE (GPT-2, Llama-3, Qwen2, StarCoder, ... style) tokenizers.
"""

from __future__ import annotations

import json
from pathlib import Path

from gguf import GGUFValueType, TokenType
from tokenizers import decoders, models

from ..errors import TokswapError
from ..gguf_reading.metadata import GgufField, gguf_fields
from ..gguf_reading.tokenizer import llamacpp_pre_type

Vocabulary = dict[str, GgufField]
PREFIX = "tokenizer."
TOKENS = "tokenizer.ggml.tokens"
_ROLE_KEYS = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}


def vocabulary_from_gguf(path: Path) -> Vocabulary:
    return gguf_fields(path, lambda key: key.startswith(PREFIX))


def token_count(vocabulary: Vocabulary) -> int:
    return len(vocabulary[TOKENS].value)


def _string(value: str) -> GgufField:
    return GgufField(GGUFValueType.STRING, value.encode("utf-8"))


def _strings(values: list[str]) -> GgufField:
    return GgufField(GGUFValueType.ARRAY, [value.encode("utf-8") for value in values], GGUFValueType.STRING)


def _added_by_default(tokenizer) -> tuple[bool, bool]:
    """Whether encoding puts BOS in front and EOS at the end, as the tokenizer actually does it."""
    ids = tokenizer("a").input_ids
    return (
        tokenizer.bos_token_id is not None and ids[:1] == [tokenizer.bos_token_id],
        tokenizer.eos_token_id is not None and ids[-1:] == [tokenizer.eos_token_id],
    )


def llamacpp_pre(tokenizer, what: str) -> str:
    """The `tokenizer.ggml.pre` a tokenizer is written with; refused when tokswap cannot write it for llama.cpp."""
    backend = tokenizer.backend_tokenizer
    hint = "; export with `tokswap export-gguf --vocab-from` the target's own GGUF file"
    if not isinstance(backend.model, models.BPE) or not isinstance(backend.decoder, decoders.ByteLevel):
        raise TokswapError(f"{what}: tokswap writes llama.cpp vocabularies for byte-level BPE tokenizers only{hint}")
    pre = llamacpp_pre_type(backend)
    if pre is None:
        raise TokswapError(f"{what}: its pre-tokenizer splits text like none of llama.cpp's{hint}")
    return pre


def vocabulary_from_tokenizer(tokenizer, rows: int, what: str) -> Vocabulary:
    """A byte-level BPE tokenizer's vocabulary written as llama.cpp's converter writes it: `gpt2` model, the
    `pre` whose split matches, byte-level token texts, merges, added specials as control tokens, and ids past
    the tokenizer up to `rows` as unused `[PADn]` tokens."""
    pre = llamacpp_pre(tokenizer, what)
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    if len(by_id) > rows:
        raise TokswapError(f"{what}: {len(by_id)} tokens but only {rows} embedding rows")
    added = {i: token.special for i, token in tokenizer.added_tokens_decoder.items()}
    kinds = {True: TokenType.CONTROL, False: TokenType.USER_DEFINED}
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(rows)]
    types = [TokenType.UNUSED if i not in by_id else kinds[added[i]] if i in added else TokenType.NORMAL for i in range(rows)]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]
    add_bos, add_eos = _added_by_default(tokenizer)
    vocabulary = {
        "tokenizer.ggml.model": _string("gpt2"),
        "tokenizer.ggml.pre": _string(pre),
        TOKENS: _strings(tokens),
        "tokenizer.ggml.token_type": GgufField(GGUFValueType.ARRAY, [int(t) for t in types], GGUFValueType.INT32),
        "tokenizer.ggml.add_bos_token": GgufField(GGUFValueType.BOOL, add_bos),
        "tokenizer.ggml.add_eos_token": GgufField(GGUFValueType.BOOL, add_eos),
    }
    if merges:
        vocabulary["tokenizer.ggml.merges"] = _strings(merges)
    for role, key in _ROLE_KEYS.items():
        if getattr(tokenizer, f"{role}_token_id") is not None:
            vocabulary[f"tokenizer.ggml.{key}"] = GgufField(GGUFValueType.UINT32, getattr(tokenizer, f"{role}_token_id"))
    if isinstance(tokenizer.chat_template, str):
        vocabulary["tokenizer.chat_template"] = _string(tokenizer.chat_template)
    return vocabulary
