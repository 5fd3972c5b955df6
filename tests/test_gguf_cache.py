"""GGUF files are converted once into cached Hugging Face folders that load to the same tensors and tokenizer."""

import pytest
import torch

from tokswap import gguf_cache
from tokswap.cache import cache_dir
from tokswap.eval.contract import Check, tokenizer_checks
from tokswap.specs import Spec, resolve


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache that still reaches the packaged artefacts already fetched into the real one."""
    real = cache_dir()
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path))
    for name in ("smollm2-135m", "llamacpp-vocab"):
        if (real / name).exists():
            (tmp_path / name).symlink_to(real / name)
    return tmp_path


def _never():
    raise AssertionError("the GGUF was read again")


def test_a_tokenizer_whose_saved_copy_differs_is_not_cached_nor_tried_again(cache, tmp_path, bpe_tok, monkeypatch):
    spec = Spec("t.gguf", "gguf", tmp_path / "t.gguf")
    spec.path.write_bytes(b"GGUF")
    checked = []
    with monkeypatch.context() as patch:
        patch.setattr("tokswap.eval.contract.tokenizer_checks", lambda output, target: checked.append(1) or [Check("vocab", False, "differs")])
        assert gguf_cache.tokenizer(spec, lambda: bpe_tok) is bpe_tok
    assert len(checked) == 1 and not [p for p in (cache / "gguf").rglob("*") if p.is_dir() and p.name.startswith(("tokenizer", ".tokenizer"))]
    assert gguf_cache.tokenizer(spec, lambda: bpe_tok) is bpe_tok
    assert len(checked) == 1 and not list((cache / "gguf").rglob("tokenizer"))
    spec.path.write_bytes(b"GGUF changed")
    assert gguf_cache.tokenizer(spec, lambda: bpe_tok) is bpe_tok
    assert gguf_cache.tokenizer(spec, _never).get_vocab() == bpe_tok.get_vocab()


@pytest.mark.real
def test_real_gguf_model_and_tokenizer_load_identically_from_the_cache(cache, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tokswap import source_model
    from tokswap.tokenizer_io import load_tokenizer

    spec = resolve("smollm2-135m")
    path, kwargs = spec.gguf_args
    direct = AutoModelForCausalLM.from_pretrained(path, **kwargs).state_dict()
    source_model.load_source(spec)
    monkeypatch.setattr(source_model, "_pretrained", lambda *args, **kwargs: _never())
    cached = source_model.load_source(spec)
    assert cached.tied and torch.equal(cached.input_embeddings, direct["model.embed_tokens.weight"])
    assert sorted(e.name for e in cached.tensors[0]) == sorted(set(direct) - {"model.embed_tokens.weight", "lm_head.weight"})
    assert all(torch.equal(e.load(), direct[e.name]) for e in cached.tensors[0])

    vocab = resolve("llamacpp:llama-spm")
    original = AutoTokenizer.from_pretrained(*vocab.gguf_args[:1], **vocab.gguf_args[1])
    load_tokenizer(vocab)
    from_folder = gguf_cache.tokenizer(vocab, _never)
    assert all(check.ok for check in tokenizer_checks(from_folder, original))
    text = "Grüße, 世界! def f(x):\n\treturn x ** 2  # ok"
    assert from_folder(text).input_ids == original(text).input_ids
