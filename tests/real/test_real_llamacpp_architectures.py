"""llama.cpp itself runs each architecture's tiny f32 export and computes transformers' next-token logits: the
part of benchmarks/llamacpp_architectures.py that fits in CI time. llama.cpp's tools are built into the cache on
first use, as the benchmarks build them (about 15 minutes on 2 cores, once)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import TINY_ARCHITECTURES, tiny_model
from transformers import AutoModelForCausalLM

from tokswap import transplant
from tokswap.gguf.export import export_gguf

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from llamacpp_architectures import EXACT, llamacpp_logits, with_float16_gelu  # noqa: E402

pytestmark = pytest.mark.real

PROMPT = "The three most important ideas in the history of science are"


@pytest.mark.parametrize("arch", list(TINY_ARCHITECTURES))
def test_llamacpp_computes_what_transformers_computes(arch, bpe_tok, tmp_path):
    """Run as transformers computes (no flash attention, K/V in f32), llama.cpp's logits are transformers' to
    float32's rounding (the benchmark measures at most 4.2e-7 of the largest logit), Gemma-3's with ggml's float16
    GELU table put in transformers' MLP (at most 3.6e-5)."""
    folder, gguf = tmp_path / "folder", tmp_path / "model.gguf"
    transplant(str(tiny_model(tmp_path / "source", bpe_tok, arch, seed=3)), "llamacpp:phi-3", folder)
    export_gguf(str(folder), gguf, kind="f32")
    ids, theirs = llamacpp_logits(gguf, PROMPT, [*EXACT, "-t", "1"], tmp_path)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        ours = (with_float16_gelu(model) or model)(torch.tensor([ids])).logits[0, -1].double().numpy()
    assert len(ids) > 5 and theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() / np.abs(ours).max() < (1e-4 if arch == "gemma3" else 2e-6)
