"""Every vocabulary in llama.cpp's archive: read exactly as llama.cpp reads it, or refused by name."""

import pytest
from transformers import AutoTokenizer

from tokswap.contract import tokenizer_checks
from tokswap.demo import FAITHFUL_LLAMACPP_VOCABS, LLAMACPP_PREFIX, llamacpp_vocab_dir
from tokswap.errors import TokswapError
from tokswap.gguf_reading.golden import mismatches, read_golden
from tokswap.gguf_reading.tokenizer import golden_vectors
from tokswap.specs import resolve
from tokswap.gguf_reading.metadata import gguf_metadata
from tokswap.tokenizer_io import GGUF_ROLE_KEYS, load_tokenizer

pytestmark = pytest.mark.real

ARCHIVE = sorted(p.name[len("ggml-vocab-") : -len(".gguf")] for p in llamacpp_vocab_dir().glob("ggml-vocab-*.gguf"))


def test_the_archive_is_the_one_measured():
    assert len(ARCHIVE) == 19 and set(FAITHFUL_LLAMACPP_VOCABS) < set(ARCHIVE)


@pytest.mark.parametrize("name", ARCHIVE)
def test_vocabulary_matches_llamacpp_or_is_refused(name, tmp_path):
    path = llamacpp_vocab_dir() / f"ggml-vocab-{name}.gguf"
    if name in FAITHFUL_LLAMACPP_VOCABS:
        tokenizer = load_tokenizer(resolve(LLAMACPP_PREFIX + name))
        cases = read_golden(golden_vectors(path))
        assert mismatches(tokenizer, cases) == [] and len(cases) >= 46
        metadata = gguf_metadata(path)  # one token per row of the file (transformers added some to three of them)
        assert len(tokenizer) == metadata["tokenizer.ggml.tokens"]
        for role, key in GGUF_ROLE_KEYS.items():
            assert getattr(tokenizer, f"{role}_token_id") == metadata.get(f"tokenizer.ggml.{key}_token_id", getattr(tokenizer, f"{role}_token_id"))
        tokenizer.save_pretrained(tmp_path)  # what an output folder for this target holds
        assert all(check.ok for check in tokenizer_checks(AutoTokenizer.from_pretrained(tmp_path), tokenizer))
        return
    with pytest.raises(TokswapError, match="not a llama.cpp vocabulary tokswap reads faithfully"):
        resolve(LLAMACPP_PREFIX + name)
    if golden_vectors(path) is not None:  # refused only because transformers cannot read it at all
        with pytest.raises(TokswapError, match="cannot load a tokenizer"):
            load_tokenizer(resolve(str(path)))
