"""llama.cpp itself runs each architecture's tiny f32 export and computes transformers' next-token logits: the
part of benchmarks/llamacpp_architectures.py that fits in CI time, each architecture on another kind of target
vocabulary (SentencePiece with byte fallback, byte-level BPE, Phi-3's), so that every architecture and every
kind runs at least once. llama.cpp's tools are built into the cache on first use, as the benchmarks build them
(about 15 minutes on 2 cores, once)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import TINY_ARCHITECTURES, tiny_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokswap import load_target, transplant
from tokswap.cache import cache_dir
from tokswap.cli import main
from tokswap.gguf.export import export_gguf

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from llamacpp_architectures import EXACT, llamacpp_logits, same_as_converter, with_float16_gelu  # noqa: E402

pytestmark = pytest.mark.real

PROMPT = "The three most important ideas in the history of science are"
# Each architecture's target; Qwen2 and Phi-3 onto Gemma-3's vocabulary, the pair that broke each (transformers
# read a qwen2 folder through Qwen2's tokenizer class; a file named phi3.gguf got Phi-3's token rules).
TARGETS = {
    "llama": "llamacpp:llama-spm", "llama3": "llamacpp:llama-bpe", "qwen2": "gemma-3-270m", "mistral": "llamacpp:qwen2",
    "phi3": "gemma-3-270m", "phi3-longrope": "llamacpp:phi-3", "gemma3": "llamacpp:gpt-2", "qwen3": "gemma-3-270m",
    "smollm3": "llamacpp:llama-bpe", "gemma2": "llamacpp:llama-spm", "olmo2": "llamacpp:gpt-2", "granite": "llamacpp:qwen2",
    "lfm2": "llamacpp:phi-3", "qwen35": "llamacpp:qwen35",
}
PROBE = "Hello world, 42 äö. def f(x):\n    return x  # ok\n日本語 <bos> spaces   end"


def test_every_architecture_has_a_target():
    assert set(TARGETS) == set(TINY_ARCHITECTURES)


@pytest.mark.parametrize("arch", list(TINY_ARCHITECTURES))
def test_llamacpp_computes_what_transformers_computes(arch, bpe_tok, tmp_path):
    """The folder's tokenizer, as users load it, is the target's; llama.cpp's converter writes the file's keys and
    tensors byte for byte (a tied OLMo-2 gets the output matrix llama.cpp's graph needs, which the converter
    leaves out); the file, named after its architecture, loads in llama.cpp; run as transformers computes (no
    flash attention, K/V in f32), llama.cpp's logits are transformers' to float32's rounding (the benchmark
    measures at most 4.2e-7 of the largest logit), Gemma's with ggml's float16 GELU table put in transformers'
    MLP (at most 3.6e-5)."""
    folder, gguf = tmp_path / "folder", tmp_path / f"{arch.split('-')[0]}.gguf"
    target = TARGETS[arch]
    transplant(str(tiny_model(tmp_path / "source", bpe_tok, arch, tied=TINY_ARCHITECTURES[arch].heads[0], seed=3)), target, folder)
    assert AutoTokenizer.from_pretrained(folder)(PROBE).input_ids == load_target(target).tokenizer(PROBE).input_ids
    export_gguf(str(folder), gguf, kind="f32")
    assert main(["verify", str(gguf), "--target", target]) == 0
    (tmp_path / "jobs.json").write_text(json.dumps([[str(folder), str(tmp_path / "converted.gguf"), "f32"]]))
    converter = [sys.executable, str(BENCHMARKS / "llamacpp_convert.py"), str(cache_dir("llamacpp-build") / "source"), str(tmp_path / "jobs.json")]
    subprocess.run(converter, check=True, capture_output=True)
    same = same_as_converter(gguf, tmp_path / "converted.gguf")
    assert same == "tensor output.weight only in tokswap's" if arch == "olmo2" else same.startswith("same"), same
    ids, theirs = llamacpp_logits(gguf, PROMPT, [*EXACT, "-t", "1"], tmp_path)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        ours = (with_float16_gelu(model) or model)(torch.tensor([ids])).logits[0, -1].double().numpy()
    assert len(ids) > 5 and theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() / np.abs(ours).max() < (1e-4 if arch.startswith("gemma") else 2e-6)
