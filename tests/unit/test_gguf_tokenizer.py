import pytest
from builders import byte_level_bpe, sentencepiece_bpe

from tokswap.errors import TokswapError
from tokswap.gguf_reading.golden import SEPARATOR
from tokswap.gguf_reading.tokenizer import BPE_SPLITS, as_llamacpp, check_golden


def _pieces(tokenizer, text: str) -> list[str]:
    return [piece for piece, _ in tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def test_bpe_split_follows_the_files_pre_type():
    starcoder = as_llamacpp(byte_level_bpe(), {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "starcoder"})
    gpt2 = as_llamacpp(byte_level_bpe(), {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2"})
    assert _pieces(starcoder, " 2024 ½") == ["Ġ", "2", "0", "2", "4", "Ġ", "Â½"]
    assert _pieces(gpt2, " 2024 ½") == ["Ġ2024", "ĠÂ½"]
    llama3 = as_llamacpp(byte_level_bpe(), {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "llama-bpe"})
    assert llama3.backend_tokenizer.model.ignore_merges and not gpt2.backend_tokenizer.model.ignore_merges


def test_unknown_pre_types_keep_transformers_split():
    tokenizer = byte_level_bpe()
    before = tokenizer.backend_tokenizer.pre_tokenizer.__getstate__()
    as_llamacpp(tokenizer, {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "some-future-model"})
    assert "some-future-model" not in BPE_SPLITS and tokenizer.backend_tokenizer.pre_tokenizer.__getstate__() == before


@pytest.mark.parametrize("flag", [None, True])
def test_sentencepiece_space_prefix_is_added_even_before_a_space(flag):
    metadata = {"tokenizer.ggml.model": "llama", **({} if flag is None else {"tokenizer.ggml.add_space_prefix": flag})}
    tokenizer = as_llamacpp(sentencepiece_bpe(), metadata)
    assert tokenizer.backend_tokenizer.normalizer.normalize_str(" hi you") == "▁▁hi▁you"
    assert tokenizer.backend_tokenizer.pre_tokenizer is None


def test_sentencepiece_without_space_prefix_keeps_transformers_reading():
    tokenizer = sentencepiece_bpe()
    before = tokenizer.backend_tokenizer.__getstate__()
    as_llamacpp(tokenizer, {"tokenizer.ggml.model": "llama", "tokenizer.ggml.add_space_prefix": False})
    assert tokenizer.backend_tokenizer.__getstate__() == before


def test_golden_vectors_beside_a_file_are_enforced(tmp_path):
    tokenizer = byte_level_bpe()
    texts = ["Hello world", " 42 apples"]
    path = tmp_path / "model.gguf"
    (tmp_path / "model.gguf.inp").write_text(SEPARATOR.join(texts) + SEPARATOR)
    ids = [tokenizer.encode(text, add_special_tokens=False) for text in texts]
    (tmp_path / "model.gguf.out").write_text("\n".join(" ".join(map(str, row)) for row in ids) + "\n")
    check_golden(tokenizer, path, "model.gguf")
    check_golden(tokenizer, tmp_path / "other.gguf", "other.gguf")  # no vectors: nothing to check
    ids[1] = ids[1][::-1]
    (tmp_path / "model.gguf.out").write_text("\n".join(" ".join(map(str, row)) for row in ids) + "\n")
    with pytest.raises(TokswapError, match=r"splits 1 of llama.cpp's 2 golden texts differently .*' 42 apples'.*faithfully: deepseek-coder"):
        check_golden(tokenizer, path, "model.gguf")
