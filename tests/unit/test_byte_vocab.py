import pytest
from builders import byte_level_bpe

from tokswap.byte_vocab import byte_vocab


def _roundtrip_failures(vocab):
    failures = []
    for idx, data in enumerate(vocab.token_bytes):
        if data is None or vocab.special[idx]:
            continue
        if b"".join(vocab.token_bytes[p] for p in vocab.encode_bytes(data)) != data:
            failures.append(idx)
    return failures


@pytest.mark.parametrize("name", ["bpe_tok", "spm_tok", "wp_tok"])
def test_every_token_splits_back_into_its_own_bytes(name, request):
    vocab = byte_vocab(request.getfixturevalue(name))
    assert _roundtrip_failures(vocab) == []


def test_byte_level_uses_the_gpt2_byte_map(bpe_tok):
    vocab = byte_vocab(bpe_tok)
    assert vocab.token_bytes[bpe_tok.convert_tokens_to_ids("Ġ")] == b" "
    assert vocab.token_bytes[bpe_tok.convert_tokens_to_ids("Ċ")] == b"\n"
    assert vocab.encode_bytes(b"\xe6") and vocab.token_bytes[vocab.encode_bytes(b"\xe6")[0]] == b"\xe6"


def test_sentencepiece_space_and_byte_fallback(spm_tok):
    vocab = byte_vocab(spm_tok)
    assert vocab.token_bytes[spm_tok.convert_tokens_to_ids("<0x41>")] == b"A"
    assert vocab.token_bytes[spm_tok.convert_tokens_to_ids("\u2581the")] == b" the"
    assert spm_tok.convert_tokens_to_ids("<0x41>") in vocab.byte_fallback
    pieces = vocab.encode_bytes(b"\xe3\x81")
    assert [vocab.token_bytes[p] for p in pieces] == [b"\xe3", b"\x81"]


def test_wordpiece_continuations_and_word_starts(wp_tok):
    vocab = byte_vocab(wp_tok)
    continuation = next(t for t in wp_tok.get_vocab() if t.startswith("##") and len(t) > 3)
    assert vocab.token_bytes[wp_tok.convert_tokens_to_ids(continuation)] == continuation[2:].encode()
    assert vocab.token_bytes[wp_tok.convert_tokens_to_ids("Hund")] == b" Hund"


def test_special_tokens_are_their_text_and_roles_are_read(bpe_tok):
    vocab = byte_vocab(bpe_tok)
    assert vocab.token_bytes[bpe_tok.convert_tokens_to_ids("<|im_start|>")] == b"<|im_start|>"
    assert vocab.special[bpe_tok.convert_tokens_to_ids("<|im_end|>")]
    assert vocab.roles == {"bos": 1, "eos": 2, "unk": 0, "pad": 0}


def test_added_normal_token_decodes_like_the_model_vocab():
    tok = byte_level_bpe()
    tok.add_tokens(["tokswap"])
    vocab = byte_vocab(tok)
    idx = tok.convert_tokens_to_ids("tokswap")
    assert vocab.token_bytes[idx] == b"tokswap" and not vocab.special[idx]


def test_byte_fallback_twins_and_special_tokens_are_not_producible(spm_tok):
    unproducible = set(byte_vocab(spm_tok).unproducible())
    comma, twin, nul = spm_tok.convert_tokens_to_ids([",", "<0x2C>", "<0x00>"])
    assert twin in unproducible and comma not in unproducible and nul not in unproducible  # no ordinary token is a NUL byte
    assert spm_tok.eos_token_id in unproducible and spm_tok.pad_token_id in unproducible


def test_each_twin_is_paired_with_the_ordinary_token_of_its_bytes(spm_tok):
    pairs = byte_vocab(spm_tok).twin_tokens()
    comma, twin, nul = spm_tok.convert_tokens_to_ids([",", "<0x2C>", "<0x00>"])
    assert pairs[twin] == comma and nul not in pairs and list(pairs) == sorted(pairs)
