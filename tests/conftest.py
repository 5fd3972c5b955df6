import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from builders import byte_level_bpe, sentencepiece_bpe, tiny_llama, wordpiece

from tokswap.cache import cache_dir


@pytest.fixture(scope="session")
def bpe_tok():
    return byte_level_bpe()


@pytest.fixture(scope="session")
def spm_tok():
    return sentencepiece_bpe()


@pytest.fixture(scope="session")
def wp_tok():
    return wordpiece()


def _saved(tmp_path_factory, tokenizer, name):
    folder = tmp_path_factory.mktemp(name)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def spm_folder(tmp_path_factory, spm_tok):
    return _saved(tmp_path_factory, spm_tok, "spm")


@pytest.fixture(scope="session")
def bpe_folder(tmp_path_factory, bpe_tok):
    return _saved(tmp_path_factory, bpe_tok, "bpe")


@pytest.fixture(scope="session")
def tied_model(tmp_path_factory, bpe_tok):
    return tiny_llama(tmp_path_factory.mktemp("tied"), bpe_tok, tied=True)


@pytest.fixture(scope="session")
def untied_model(tmp_path_factory, bpe_tok):
    return tiny_llama(tmp_path_factory.mktemp("untied"), bpe_tok, tied=False, seed=1)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty cache that still reaches the packaged artefacts already fetched into the real one."""
    real = cache_dir()
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path))
    for name in ("smollm2-135m", "llamacpp-vocab"):
        if (real / name).exists():
            (tmp_path / name).symlink_to(real / name)
    return tmp_path
