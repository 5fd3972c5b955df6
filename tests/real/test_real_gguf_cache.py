"""The packaged GGUFs load from their cached Hugging Face folders to the same tensors and tokenizer."""

import pytest
import torch
from builders import never
from transformers import AutoModelForCausalLM

from tokswap import checkpoint
from tokswap.contract import tokenizer_checks
from tokswap.gguf_reading import conversion
from tokswap.specs import resolve
from tokswap.tokenizer_io import load_tokenizer, read_gguf_tokenizer

pytestmark = pytest.mark.real


def test_real_gguf_model_and_tokenizer_load_identically_from_the_cache(empty_cache, monkeypatch):
    spec = resolve("smollm2-135m")
    path, kwargs = spec.gguf_args
    direct = AutoModelForCausalLM.from_pretrained(path, **kwargs).state_dict()
    checkpoint.load_checkpoint(spec)
    monkeypatch.setattr(checkpoint, "_pretrained", lambda *args, **kwargs: never())
    cached = checkpoint.load_checkpoint(spec)
    assert cached.embeddings.tied and torch.equal(cached.embeddings.input, direct["model.embed_tokens.weight"])
    assert sorted(e.name for e in cached.tensors[0]) == sorted(set(direct) - {"model.embed_tokens.weight", "lm_head.weight"})
    assert all(torch.equal(e.load(), direct[e.name]) for e in cached.tensors[0])

    vocab = resolve("llamacpp:llama-spm")
    original = read_gguf_tokenizer(vocab)
    load_tokenizer(vocab)
    from_folder = conversion.tokenizer(vocab, never)
    assert all(check.ok for check in tokenizer_checks(from_folder, original))
    text = "Grüße, 世界! def f(x):\n\treturn x ** 2  # ok"
    assert from_folder(text).input_ids == original(text).input_ids


def test_a_damaged_cache_entry_is_rebuilt_with_one_line(empty_cache, capsys):
    """A converted model cut short (a full disk, a killed copy) is found, removed and converted again."""
    spec = resolve("smollm2-135m")
    first = checkpoint.load_checkpoint(spec).embeddings.input
    (entry,) = (empty_cache / "gguf").glob("*-model")
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    capsys.readouterr()
    again = checkpoint.load_checkpoint(spec).embeddings.input
    err = capsys.readouterr().err
    assert err.count("tokswap:") == 1 and f"cache entry {entry}" in err and "is damaged: model.safetensors has" in err
    assert torch.equal(first, again) and weights.stat().st_size > 200_000_000
