"""Every architecture export-gguf writes, on tiny random models: the GGUF as llama.cpp's converter writes it
(tensor names, shapes and keys; transformers reads the weights back), and the whole path on a real llama.cpp
vocabulary: transplant, verify, eval, draft-vocab and export. llama.cpp itself runs these files in
benchmarks/llamacpp_architectures.py."""

import json
import math
from pathlib import Path

import pytest
import torch
from builders import MORE, TEXT, TINY_ARCHITECTURES, tiny_model
from gguf import GGUFReader
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokswap import load_drafter, transplant
from tokswap.cli import main
from tokswap.drafting.draft_vocab import build_hot_drafters
from tokswap.drafting.draft_vocab_file import read_draft_vocab
from tokswap.drafting.options import CalibrationOptions
from tokswap.eval.bits_per_byte import score_text
from tokswap.gguf.architectures import ARCHITECTURES, architecture_table
from tokswap.gguf.export import export_gguf
from tokswap.heal.options import HealOptions
from tokswap.heal.train import heal

ARCHS = list(TINY_ARCHITECTURES)
# The keys llama.cpp's converter writes for the tiny models (hidden 32, 4 heads of 8, 2 key-value heads, 64 feed
# forward, 128 positions, 400 tokens), read from convert_hf_to_gguf.py's classes; `None`: the key is absent.
BASE = {
    "block_count": 2, "context_length": 128, "embedding_length": 32, "feed_forward_length": 64, "attention.head_count": 4,
    "attention.head_count_kv": 2, "rope.freq_base": 10000.0, "attention.layer_norm_rms_epsilon": 1e-6,
}
LLAMA = {**BASE, "attention.key_length": 8, "attention.value_length": 8, "vocab_size": 400, "rope.dimension_count": 8}
KEYS = {
    "llama": LLAMA,
    "llama3": LLAMA,
    "mistral": LLAMA,
    "qwen2": BASE,
    "gemma3": {
        **BASE, "block_count": 6, "attention.key_length": 8, "attention.value_length": 8, "rope.freq_base": 1e6, "rope.freq_base_swa": 1e4,
        "final_logit_softcapping": 0.5, "attention.sliding_window": 4,
    },
    "phi3": {
        **BASE, "attention.layer_norm_rms_epsilon": 1e-5, "rope.dimension_count": 4, "rope.scaling.original_context_length": 128, "attention.sliding_window": 0,
    },
}
LAYER = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]
TENSORS = {
    "llama": LAYER,
    "llama3": LAYER,
    "mistral": LAYER,
    "qwen2": [*LAYER, "attn_q.bias", "attn_k.bias", "attn_v.bias"],
    "gemma3": [*LAYER, "attn_q_norm", "attn_k_norm", "post_attention_norm", "post_ffw_norm"],
    "phi3": ["attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"],
}
GGUF_ARCH = {"llama": "llama", "llama3": "llama", "mistral": "llama", "qwen2": "qwen2", "gemma3": "gemma3", "phi3": "phi3"}


def _names(reader: GGUFReader) -> dict[str, tuple[int, ...]]:
    """Tensor names with Hugging Face's (rows, columns) order of dimensions."""
    return {tensor.name: tuple(int(n) for n in reversed(tensor.shape)) for tensor in reader.tensors}


@pytest.fixture(scope="module")
def sources(tmp_path_factory, bpe_tok):
    root = tmp_path_factory.mktemp("architectures")
    return {(arch, tied): tiny_model(root / f"{arch}-{tied}", bpe_tok, arch, tied=tied, seed=3) for arch in ARCHS for tied in (True, False)}


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("arch", ARCHS)
def test_gguf_is_what_the_converter_writes(sources, tmp_path, arch, tied):
    folder = sources[arch, tied]
    path = tmp_path / "model.gguf"
    export_gguf(str(folder), path, kind="f32")
    reader = GGUFReader(path)
    name = GGUF_ARCH[arch]
    assert reader.fields["general.architecture"].contents() == name
    keys = {key.removeprefix(name + "."): field.contents() for key, field in reader.fields.items() if key.startswith(name + ".")}
    assert keys == pytest.approx(KEYS[arch])
    layers = KEYS[arch]["block_count"]
    expected = {f"blk.{i}.{t}" + ("" if t.endswith(".bias") else ".weight") for i in range(layers) for t in TENSORS[arch]}
    expected |= {"token_embd.weight", "output_norm.weight"} | ({"rope_freqs.weight"} if arch == "llama3" else set()) | (set() if tied else {"output.weight"})
    shapes = _names(reader)
    assert set(shapes) == expected
    if arch == "phi3":  # fused as Phi-3 has them: q, k, v rows in one matrix; gate and up in one
        assert shapes["blk.0.attn_qkv.weight"] == (32 + 2 * 16, 32) and shapes["blk.0.ffn_up.weight"] == (2 * 64, 32)
    original = AutoModelForCausalLM.from_pretrained(folder)
    if arch == "llama3":  # llama.cpp divides each rotary frequency by its factor; transformers' llama3 rope the same
        rope = original.model.rotary_emb
        factors = next(t for t in reader.tensors if t.name == "rope_freqs.weight").data
        plain = 1.0 / (10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float32) / 8))
        assert torch.allclose(plain / torch.tensor(factors), rope.inv_freq, rtol=1e-6)
        return  # transformers' GGUF reader has no place for rope_freqs
    exported = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name).state_dict()
    weights = original.state_dict()
    assert exported.keys() == weights.keys()
    for key, tensor in weights.items():  # q/k reordered and Gemma's norms + 1 in the file, undone by the reader
        assert torch.allclose(exported[key].float(), tensor.float(), atol=1e-6), key


def test_the_docs_list_the_table():
    root = Path(__file__).parents[2]
    assert architecture_table() in (root / "docs" / "export-gguf.md").read_text() and all(f"`{name}`" in architecture_table() for name in ARCHITECTURES)
    assert "models: " + ", ".join(f"`{name}`" for name in ARCHITECTURES) + " |" in (root / "README.md").read_text()


def test_gemma_eval_reads_scaled_embeddings_and_soft_capped_logits(sources):
    """`eval` scores with the model's own forward: the embedding scale and the soft-capping are in its logits."""
    folder = sources["gemma3", True]
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = TEXT[:150]
    ids = torch.tensor([tokenizer(text).input_ids])

    def bits(scale: float, cap: float | None) -> float:
        embeds = model.get_input_embeddings().weight[ids] * scale
        with torch.no_grad():
            logits = model.lm_head(model.model(inputs_embeds=embeds).last_hidden_state)[0, :-1]
        logits = logits if cap is None else cap * torch.tanh(logits / cap)
        return torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item() / math.log(2)

    score = score_text(model, tokenizer, text).nll_bits
    assert score == pytest.approx(bits(math.sqrt(32), 0.5), rel=1e-7)
    assert abs(score - bits(1.0, 0.5)) > 0.01 and abs(score - bits(math.sqrt(32), None)) > 0.01


# Each architecture on a real llama.cpp vocabulary, with both heads; eval, draft-vocab and heal once each, with the
# head the real models have: tied for Llama-3.2-1B, Qwen2.5-0.5B and Gemma-3, untied for Mistral and Phi-3.
PIPELINE = [("llama3", True), ("qwen2", True), ("gemma3", True), ("mistral", False), ("phi3", False)]
BOTH_HEADS = [pair for arch, tied in PIPELINE for pair in ((arch, tied), (arch, not tied))]
TARGET = "llamacpp:phi-3"


@pytest.fixture(scope="module")
def transplants(sources, tmp_path_factory):
    """Each tiny model moved onto TARGET by `subword`: the folder and the transplant's report."""
    root = tmp_path_factory.mktemp("transplants")
    return {(arch, tied): (root / f"{arch}-{tied}", transplant(str(sources[arch, tied]), TARGET, root / f"{arch}-{tied}")) for arch, tied in BOTH_HEADS}


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "text.txt"
    path.write_text(TEXT * 2 + MORE * 20)
    return path


@pytest.mark.parametrize("arch,tied", BOTH_HEADS)
def test_transplant_verify_and_export(sources, transplants, tmp_path, arch, tied):
    out, report = transplants[arch, tied]
    gguf = tmp_path / "drafter.gguf"
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == type(AutoModelForCausalLM.from_pretrained(sources[arch, tied])).__name__
    assert report.tied == tied and model.config.tie_word_embeddings == tied and model.get_input_embeddings().weight.shape[0] == 32064
    assert main(["verify", str(out), "--target", TARGET]) == 0
    assert "verbatim" in export_gguf(str(out), gguf, kind="q8_0").vocabulary
    assert ("output.weight" in _names(GGUFReader(gguf))) != tied
    assert main(["verify", str(gguf), "--target", TARGET]) == 0


@pytest.mark.parametrize("arch,tied", PIPELINE)
def test_eval_and_draft_vocab(transplants, text, tmp_path, capsys, arch, tied):
    out, drafter = transplants[arch, tied][0], tmp_path / "hot"
    assert main(["eval", str(out), "--data", str(text), "--json"]) == 0
    assert "bits_per_byte" in capsys.readouterr().out
    build_hot_drafters(str(out), str(out), [str(text)], [256], drafter, CalibrationOptions(prompts=4, new_tokens=8))
    hot = load_drafter(str(drafter)).module
    kept = read_draft_vocab(drafter).target_ids
    ids = AutoTokenizer.from_pretrained(out)(TEXT[:200], return_tensors="pt").input_ids
    with torch.no_grad():
        full, trimmed = AutoModelForCausalLM.from_pretrained(out)(ids).logits, hot(ids).logits
    assert torch.allclose(trimmed[..., kept], full[..., kept], atol=1e-5)
    others = torch.ones(full.shape[-1], dtype=torch.bool)
    others[kept] = False
    assert torch.isneginf(trimmed[..., others]).all()  # Gemma's soft-capping leaves them -inf too


@pytest.mark.parametrize("arch,tied", PIPELINE)
def test_heal_starts_from_the_models_own_softmax_and_trains_every_weight(transplants, text, tmp_path, monkeypatch, arch, tied):
    """Distilled toward itself over every row, the student starts at divergence 0: its softmax is the model's
    own (Gemma's scaled embeddings and soft-capped logits included); plain cross-entropy then moves every kind of
    weight, and the healed folder is the same architecture, still exported for llama.cpp."""
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    out, healed = transplants[arch, tied][0], tmp_path / "healed"
    options = HealOptions(steps=2, teacher=str(out), negatives=0, ce_weight=1.0, train="all", batch_size=2, seq_len=24, warmup=1, lr=3e-2, body_lr=3e-2)
    assert heal(str(out), [str(text)], healed, options).steps == 2
    log = [json.loads(line) for line in (healed / "log.jsonl").read_text().splitlines()]
    assert abs(log[0]["kl"]) < 1e-6 < log[1]["kl"]
    before, after = AutoModelForCausalLM.from_pretrained(out), AutoModelForCausalLM.from_pretrained(healed)
    assert type(after) is type(before) and after.config.to_diff_dict() == before.config.to_diff_dict()
    changed = {name for name, weight in after.state_dict().items() if not torch.equal(weight, before.state_dict()[name])}
    assert changed == set(before.state_dict()) and all(torch.isfinite(w).all() for w in after.state_dict().values())
    reader = GGUFReader(export_gguf(str(healed), tmp_path / "healed.gguf", kind="f32").path)
    assert reader.fields["general.architecture"].contents() == GGUF_ARCH[arch]
