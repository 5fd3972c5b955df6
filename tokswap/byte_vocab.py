"""Every token as the exact bytes it stands for, and the reverse: bytes into a tokenizer's pieces.

Display strings lie (GPT-2's `Ġ`, SentencePiece's `▁`, `<0xNN>` byte fallback, WordPiece's `##`), so
alignment and every method work on bytes read off the tokenizer's own decoder definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from transformers.convert_slow_tokenizer import bytes_to_unicode

from .errors import TokswapError

ROLES = ("bos", "eos", "unk", "pad")
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_BYTE_TO_CHAR = bytes_to_unicode()
_CHAR_TO_BYTE = {c: b for b, c in _BYTE_TO_CHAR.items()}


@dataclass(frozen=True)
class DecodeStep:
    """One per-token step of a `tokenizers` decoder; sequence-level steps (Fuse, Strip) do not change a token."""

    kind: str
    pattern: str = ""
    content: str = ""


def _decoder_steps(decoder: dict | None) -> list[DecodeStep]:
    if decoder is None:
        return []
    if decoder["type"] == "Sequence":
        return [step for sub in decoder["decoders"] for step in _decoder_steps(sub)]
    kind = decoder["type"]
    if kind == "ByteLevel":
        return [DecodeStep("byte_level")]
    if kind == "ByteFallback":
        return [DecodeStep("byte_fallback")]
    if kind == "Replace":
        pattern = decoder["pattern"]
        if "String" not in pattern:
            raise TokswapError(f"unsupported decoder: Replace with a regex pattern {pattern}")
        return [DecodeStep("replace", pattern["String"], decoder["content"])]
    if kind == "Metaspace":
        return [DecodeStep("replace", decoder.get("replacement", "\u2581"), " ")]
    if kind == "WordPiece":
        return [DecodeStep("word_piece", decoder.get("prefix", "##"))]
    return []


def _decode_token(steps: list[DecodeStep], token: str) -> bytes:
    for step in steps:
        if step.kind == "byte_level":
            if all(c in _CHAR_TO_BYTE for c in token):
                return bytes(_CHAR_TO_BYTE[c] for c in token)
        elif step.kind == "byte_fallback":
            match = _BYTE_TOKEN.fullmatch(token)
            if match:
                return bytes([int(match.group(1), 16)])
        elif step.kind == "replace":
            token = token.replace(step.pattern, step.content)
        elif step.kind == "word_piece":
            token = token[len(step.pattern) :] if token.startswith(step.pattern) else " " + token
    return token.encode("utf-8")


def _utf8_runs(data: bytes) -> list[str | int]:
    """Split bytes into decodable text runs and the single bytes that are not valid UTF-8."""
    runs: list[str | int] = []
    while data:
        try:
            runs.append(data.decode("utf-8"))
            break
        except UnicodeDecodeError as err:
            if err.start:
                runs.append(data[: err.start].decode("utf-8"))
            runs.append(data[err.start])
            data = data[err.start + 1 :]
    return runs


@dataclass
class ByteVocab:
    """A tokenizer's vocabulary as bytes, with roles, special flags and a bytes → pieces encoder."""

    token_bytes: list[bytes | None]
    special: list[bool]
    added_text: dict[str, int]
    roles: dict[str, int]
    byte_fallback: set[int]
    unk_id: int | None
    _encode: Callable[[bytes], list[int]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.token_bytes)

    def encode_bytes(self, data: bytes) -> list[int]:
        """The pieces this tokenizer's model splits `data` into, bypassing normalizer and pre-tokenizer."""
        return self._encode(data)

    def twin_tokens(self) -> dict[int, int]:
        """Each byte-fallback twin (`<0x2C>`), by ascending id → the first ordinary token with its bytes (`,`)."""
        ordinary: dict[bytes, int] = {}
        for i, data in enumerate(self.token_bytes):
            if data is not None and not self.special[i] and i not in self.byte_fallback:
                ordinary.setdefault(data, i)
        return {i: ordinary[self.token_bytes[i]] for i in sorted(self.byte_fallback) if self.token_bytes[i] in ordinary}

    def fallback_twins(self) -> list[int]:
        """Byte-fallback tokens (`<0x2C>`) whose bytes an ordinary token also has (`,`): the tokenizer never
        emits them, so no text produces them."""
        return list(self.twin_tokens())

    def unproducible(self) -> list[int]:
        """Ids no text produces: special tokens (Gemma's 6,000 unused and control ones) and byte-fallback twins
        of ordinary tokens (`<0x2C>` beside `,`)."""
        return sorted({*(i for i, s in enumerate(self.special) if s), *self.fallback_twins()})


def first_difference(left: ByteVocab, right: ByteVocab) -> int | None:
    """The first id where two vocabularies differ in bytes or special role, or where the shorter one ends."""
    pairs = zip(left.token_bytes, right.token_bytes, left.special, right.special)
    differ = next((i for i, (a, b, sa, sb) in enumerate(pairs) if a != b or sa != sb), None)
    if differ is None and len(left) != len(right):
        return min(len(left), len(right))
    return differ


def byte_vocab(tokenizer) -> ByteVocab:
    """Read a Hugging Face fast tokenizer into a ByteVocab."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TokswapError(f"{type(tokenizer).__name__} is not backed by the `tokenizers` library; use a fast tokenizer")
    spec = json.loads(backend.to_str())
    steps = _decoder_steps(spec.get("decoder"))
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    strings: list[str | None] = [None] * size
    for text, idx in vocab.items():
        strings[idx] = text
    added = tokenizer.added_tokens_decoder
    special_ids = set(tokenizer.all_special_ids) | {i for i, tok in added.items() if tok.special}
    token_bytes: list[bytes | None] = []
    for idx, text in enumerate(strings):
        if text is None:
            token_bytes.append(None)
        elif idx in special_ids or (idx in added and not added[idx].normalized):
            token_bytes.append(added[idx].content.encode("utf-8") if idx in added else text.encode("utf-8"))
        else:
            token_bytes.append(_decode_token(steps, text))
    roles = {}
    for role in ROLES:
        idx = getattr(tokenizer, f"{role}_token_id", None)
        if idx is not None and 0 <= idx < size:
            roles[role] = idx
    byte_fallback = {i for i, text in enumerate(strings) if text and _BYTE_TOKEN.fullmatch(text) and i not in special_ids}
    unk_id = roles.get("unk")
    return ByteVocab(
        token_bytes=token_bytes,
        special=[i in special_ids for i in range(size)],
        added_text={tok.content: i for i, tok in added.items()},
        roles=roles,
        byte_fallback=byte_fallback,
        unk_id=unk_id,
        _encode=_encoder(backend.model, steps, vocab, unk_id),
    )


def _encoder(model, steps: list[DecodeStep], vocab: dict[str, int], unk_id: int | None) -> Callable[[bytes], list[int]]:
    kinds = {step.kind for step in steps}

    def pieces(text: str) -> list[int]:
        return [tok.id for tok in model.tokenize(text)] if text else []

    if "byte_level" in kinds:
        return lambda data: pieces("".join(_BYTE_TO_CHAR[b] for b in data))

    def encode(data: bytes) -> list[int]:
        ids: list[int] = []
        for run in _utf8_runs(data):
            if isinstance(run, int):
                byte_id = vocab.get(f"<0x{run:02X}>", unk_id)
                ids += [] if byte_id is None else [byte_id]
                continue
            for step in reversed(steps):
                if step.kind == "replace":
                    run = run.replace(step.content, step.pattern)
                elif step.kind == "word_piece":
                    run = run[1:] if run.startswith(" ") else step.pattern + run
            ids += pieces(run)
        return ids

    return encode
