"""`AutoTokenizer.from_pretrained(out)` is how drafters are loaded: it must split text as the target does, whatever
class transformers picks for the source's model type (issue 34: a Qwen2 drafter on Gemma-3's vocabulary)."""

import json
import shutil

import pytest
from builders import TEXT, tiny_model
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from tokswap import transplant
from tokswap.contract import tokenizer_checks


@pytest.fixture(scope="module", params=["qwen2", "gemma3"])
def source(request, tmp_path_factory, bpe_tok):
    """qwen2: transformers forces Qwen2Tokenizer whatever tokenizer_config names; gemma3: GemmaTokenizer is its
    family's class, used unless tokenizer_config names another."""
    return tiny_model(tmp_path_factory.mktemp(request.param), bpe_tok, request.param)


@pytest.fixture(scope="module")
def roles_left_out(tmp_path_factory, bpe_folder):
    """A byte-level target whose tokenizer_config has no unk or pad entry, as older hub folders have: a forced
    class would fill them with its own defaults."""
    folder = tmp_path_factory.mktemp("roles_left_out")
    shutil.copytree(bpe_folder, folder, dirs_exist_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({k: v for k, v in config.items() if k not in ("unk_token", "pad_token")}))
    return folder


@pytest.mark.parametrize("target", ["spm_folder", "bpe_folder", "roles_left_out"])
def test_auto_tokenizer_splits_as_the_target(tmp_path, source, target, request):
    target = request.getfixturevalue(target)
    out = tmp_path / "out"
    transplant(str(source), str(target), out)
    loaded, wanted = AutoTokenizer.from_pretrained(out), PreTrainedTokenizerFast.from_pretrained(target)
    assert [c.name for c in tokenizer_checks(loaded, wanted) if not c.ok] == []
    assert loaded(TEXT).input_ids == wanted(TEXT).input_ids
