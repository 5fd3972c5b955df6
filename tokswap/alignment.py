"""Vocabulary alignment: which target rows are copied, mapped by role, filled by a method, set below their
ordinary token (byte-fallback twins), or padding."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .byte_vocab import ROLES, ByteVocab
from .pieces import source_pieces


@dataclass(frozen=True)
class RowCopy:
    target: int
    source: int
    reason: str


@dataclass(frozen=True)
class Twin:
    """A byte-fallback token (`<0x2C>`) and the ordinary target token with its bytes (`,`)."""

    target: int
    ordinary: int


@dataclass
class AlignmentPlan:
    """Every target row has exactly one fate; counts feed the report.

    `new` lists every row a method fills: ordinary tokens the source lacks and special tokens no role or
    text maps (`special_filled` of them). `source_pieces` holds the source tokenizer's split of each.
    `twins` are byte-fallback tokens whose bytes an ordinary token also has: the tokenizer never emits them,
    and a copy of the ordinary token's row would tie with it, so each gets that row moved below it.
    """

    target_rows: int
    source_rows: int
    shared: list[RowCopy]
    special: list[RowCopy]
    twins: list[Twin]
    new: list[int]
    padding: list[int]
    beyond_rows: list[int]
    special_filled: int
    duplicate_bytes: int
    unproducible: int
    target_bytes: dict[int, bytes] = field(repr=False)
    source_pieces: dict[int, list[int]] = field(repr=False)

    def counts(self) -> dict[str, int]:
        return {
            "target_rows": self.target_rows,
            "shared": len(self.shared),
            "fallback_twins": len(self.twins),
            "special_mapped": len(self.special),
            "special_filled": self.special_filled,
            "new": len(self.new) - self.special_filled,
            "padding": len(self.padding),
            "beyond_rows": len(self.beyond_rows),
            "duplicate_bytes": self.duplicate_bytes,
            "unproducible": self.unproducible,
        }


def _source_by_bytes(source: ByteVocab, rows: int) -> dict[bytes, int]:
    """Bytes → source id; a byte-fallback `<0xNN>` token only where no ordinary token has those bytes."""
    by_bytes: dict[bytes, int] = {}
    ordered = sorted(range(min(len(source), rows)), key=lambda i: (i in source.byte_fallback, i))
    for idx in ordered:
        data = source.token_bytes[idx]
        if data is not None and not source.special[idx]:
            by_bytes.setdefault(data, idx)
    return by_bytes


def _special_source(target: ByteVocab, source: ByteVocab, idx: int, rows: int) -> RowCopy | None:
    """Map a special target token by role first (bos, eos, unk, pad), then by identical added-token text."""
    for role in ROLES:
        if target.roles.get(role) == idx and source.roles.get(role, rows) < rows:
            return RowCopy(idx, source.roles[role], f"role:{role}")
    text = target.token_bytes[idx].decode("utf-8", errors="replace")
    src = source.added_text.get(text)
    if src is not None and src < rows:
        return RowCopy(idx, src, "text")
    return None


def align(source: ByteVocab, target: ByteVocab, source_rows: int, target_rows: int | None = None) -> AlignmentPlan:
    """Plan a transplant onto `target_rows` rows (the target model's embedding rows, else the tokenizer's length)."""
    target_rows = len(target) if target_rows is None else target_rows
    by_bytes = _source_by_bytes(source, source_rows)
    twin_of = {twin: token for twin, token in target.twin_tokens().items() if twin < target_rows and token < target_rows}
    shared: list[RowCopy] = []
    special: list[RowCopy] = []
    new: list[int] = []
    padding: list[int] = []
    target_bytes: dict[int, bytes] = {}
    for idx in range(target_rows):
        data = target.token_bytes[idx] if idx < len(target) else None
        if data is None:
            padding.append(idx)
            continue
        if idx in twin_of:
            continue
        if target.special[idx]:
            copy = _special_source(target, source, idx, source_rows)
            if copy is not None:
                special.append(copy)
                continue
        elif data in by_bytes:
            shared.append(RowCopy(idx, by_bytes[data], "bytes"))
            continue
        new.append(idx)
        target_bytes[idx] = data
    ordinary = Counter(b for i, b in enumerate(target.token_bytes[:target_rows]) if b is not None and not target.special[i] and i not in twin_of)
    pieces = {idx: source_pieces(source, target_bytes[idx], source_rows) for idx in new}
    unproducible = sum(1 for idx in new if b"".join(source.token_bytes[p] for p in pieces[idx]) != target_bytes[idx])
    return AlignmentPlan(
        target_rows=target_rows,
        source_rows=source_rows,
        shared=shared,
        special=special,
        twins=[Twin(idx, twin_of[idx]) for idx in sorted(twin_of)],
        new=new,
        padding=padding,
        beyond_rows=[i for i in range(target_rows, len(target)) if target.token_bytes[i] is not None],
        special_filled=sum(1 for idx in new if target.special[idx]),
        duplicate_bytes=sum(n - 1 for n in ordinary.values() if n > 1),
        unproducible=unproducible,
        target_bytes=target_bytes,
        source_pieces=pieces,
    )

