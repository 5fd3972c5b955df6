import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from builders import byte_level_bpe, sentencepiece_bpe, tiny_llama, wordpiece


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
