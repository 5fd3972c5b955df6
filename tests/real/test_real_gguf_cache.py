"""The packaged GGUFs load from their cached Hugging Face folders to the same tensors and tokenizer."""

import pytest
import torch
from builders import never
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokswap import checkpoint, gguf_cache
from tokswap.contract import tokenizer_checks
from tokswap.specs import resolve
from tokswap.tokenizer_io import load_tokenizer

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
    original = AutoTokenizer.from_pretrained(*vocab.gguf_args[:1], **vocab.gguf_args[1])
    load_tokenizer(vocab)
    from_folder = gguf_cache.tokenizer(vocab, never)
    assert all(check.ok for check in tokenizer_checks(from_folder, original))
    text = "Grüße, 世界! def f(x):\n\treturn x ** 2  # ok"
    assert from_folder(text).input_ids == original(text).input_ids
