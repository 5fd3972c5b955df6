from builders import byte_level_bpe

from tokswap.alignment import Twin, align
from tokswap.byte_vocab import byte_vocab


def _fates(plan):
    return (
        [c.target for c in plan.shared] + [c.target for c in plan.special] + [t.target for t in plan.twins] + plan.new + plan.padding
    )


def test_every_row_has_exactly_one_fate(bpe_tok, spm_tok):
    plan = align(byte_vocab(bpe_tok), byte_vocab(spm_tok), len(bpe_tok), len(spm_tok) + 7)
    assert sorted(_fates(plan)) == list(range(len(spm_tok) + 7))
    assert plan.padding == list(range(len(spm_tok), len(spm_tok) + 7))


def test_shared_rows_have_identical_bytes(bpe_tok, spm_tok):
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    plan = align(source, target, len(bpe_tok))
    assert len(plan.shared) > 100
    assert all(source.token_bytes[c.source] == target.token_bytes[c.target] for c in plan.shared)
    for idx in plan.new:
        assert target.special[idx] or target.token_bytes[idx] not in set(source.token_bytes)


def test_byte_fallback_twins_are_planned_from_their_ordinary_token(bpe_tok, spm_tok):
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    plan = align(source, target, len(bpe_tok))
    copies = {c.target: c.source for c in plan.shared}
    letter_a, byte_a = spm_tok.convert_tokens_to_ids("a"), spm_tok.convert_tokens_to_ids("<0x61>")
    assert copies[letter_a] == bpe_tok.convert_tokens_to_ids("a") and byte_a not in copies
    assert Twin(byte_a, letter_a) in plan.twins and len(plan.twins) == len(target.fallback_twins())
    assert plan.counts()["fallback_twins"] == len(plan.twins) and plan.duplicate_bytes == 0  # the twins were the only duplicates


def test_specials_map_by_role_then_by_text(bpe_tok, spm_tok):
    plan = align(byte_vocab(bpe_tok), byte_vocab(spm_tok), len(bpe_tok))
    reasons = {c.target: (c.source, c.reason) for c in plan.special}
    assert reasons[spm_tok.bos_token_id] == (bpe_tok.bos_token_id, "role:bos")
    assert reasons[spm_tok.eos_token_id] == (bpe_tok.eos_token_id, "role:eos")
    turn = spm_tok.convert_tokens_to_ids("<start_of_turn>")
    assert turn in plan.new and plan.special_filled == 1

    chat_target = byte_level_bpe(vocab_size=350, specials=("<|endoftext|>", "<s>", "</s>", "<|im_start|>"))
    by_text = {c.target: c for c in align(byte_vocab(bpe_tok), byte_vocab(chat_target), len(bpe_tok)).special}
    im_start = chat_target.convert_tokens_to_ids("<|im_start|>")
    assert by_text[im_start].reason == "text" and by_text[im_start].source == bpe_tok.convert_tokens_to_ids("<|im_start|>")


def test_rows_beyond_the_model_and_source_ids_without_rows(bpe_tok, spm_tok):
    source = byte_vocab(bpe_tok)
    plan = align(source, byte_vocab(spm_tok), len(bpe_tok) - 50, len(spm_tok) - 3)
    assert plan.target_rows == len(spm_tok) - 3 and len(plan.beyond_rows) == 3
    assert all(c.source < len(bpe_tok) - 50 for c in plan.shared + plan.special)
    assert all(p < len(bpe_tok) - 50 for pieces in plan.source_pieces.values() for p in pieces)


def test_unproducible_bytes_are_counted(spm_tok, wp_tok):
    plan = align(byte_vocab(wp_tok), byte_vocab(spm_tok), len(wp_tok))
    assert plan.unproducible > 0
    assert plan.counts()["unproducible"] == plan.unproducible


def test_alignment_is_deterministic(bpe_tok, spm_tok):
    first = align(byte_vocab(bpe_tok), byte_vocab(spm_tok), len(bpe_tok))
    second = align(byte_vocab(bpe_tok), byte_vocab(spm_tok), len(bpe_tok))
    assert first.shared == second.shared and first.source_pieces == second.source_pieces
