"""Every architecture export-gguf writes, on tiny random models: the GGUF as llama.cpp's converter writes it
(tensor names, shapes and keys; transformers reads the weights back), and the whole path on a real llama.cpp
vocabulary: transplant, verify, eval, draft-vocab and export. llama.cpp itself runs these files in
benchmarks/llamacpp_architectures.py."""

import json
import math
from pathlib import Path

import pytest
import torch
from builders import MORE, TEXT, TINY_ARCHITECTURES, cli_error, tiny_model
from gguf import GGUFReader
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokswap import load_drafter, transplant
from tokswap.cli import main
from tokswap.drafting.bench_draft import bench_draft
from tokswap.drafting.draft_vocab import build_hot_drafters
from tokswap.drafting.draft_vocab_file import read_draft_vocab
from tokswap.drafting.options import CalibrationOptions
from tokswap.eval.bits_per_byte import score_text
from tokswap.gguf.architectures import ARCHITECTURES, architecture_table, exported_architectures
from tokswap.gguf.export import export_gguf
from tokswap.heal.options import HealOptions
from tokswap.heal.train import heal
from tokswap.drafting.prompts import Prompt
from tokswap.report import REPORT_FILE

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
    "phi3-longrope": {
        **BASE, "attention.layer_norm_rms_epsilon": 1e-5, "rope.dimension_count": 4, "rope.scaling.original_context_length": 8, "attention.sliding_window": 0,
        "rope.scaling.attn_factor": math.sqrt(1 + math.log(16) / math.log(8)),
    },
    "qwen3": {**BASE, "attention.key_length": 8, "attention.value_length": 8},
    "smollm3": {**BASE, "block_count": 4, "rope.freq_base": 2e6, "vocab_size": 400, "rope.dimension_count": 8},
    "gemma2": {
        **{k: v for k, v in BASE.items() if k != "rope.freq_base"}, "attention.key_length": 8, "attention.value_length": 8,
        "attn_logit_softcapping": 1.0, "final_logit_softcapping": 2.0, "attention.sliding_window": 8,
    },
    "olmo2": {**BASE, "attention.layer_norm_rms_epsilon": 1e-5},
    "granite": {
        **BASE, "vocab_size": 400, "rope.dimension_count": 8, "attention.scale": 0.0625, "embedding_scale": 12.0, "residual_scale": 0.22, "logit_scale": 2.0,
    },
    # Layer kinds as key/value heads (0: a convolution); the feed-forward size as LFM2 adjusts it (2/3 of 128, up to 32s).
    "lfm2": {
        **BASE, "block_count": 3, "feed_forward_length": 96, "attention.head_count_kv": [0, 2, 0], "rope.freq_base": 1e6,
        "attention.layer_norm_rms_epsilon": 1e-5, "vocab_size": 400, "shortconv.l_cache": 3,
    },
    "qwen35": {
        **BASE, "block_count": 3, "attention.key_length": 32, "attention.value_length": 32, "ssm.conv_kernel": 4, "ssm.state_size": 8,
        "ssm.group_count": 2, "ssm.time_step_rank": 4, "ssm.inner_size": 32, "attention.recurrent_layers": [True, False, True],
        "full_attention_interval": 4, "rope.dimension_count": 8, "rope.dimension_sections": [11, 11, 10, 0],
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
    "phi3-longrope": ["attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"],
    "qwen3": [*LAYER, "attn_q_norm", "attn_k_norm"],
    "smollm3": LAYER,
    "gemma2": [*LAYER, "post_attention_norm", "post_ffw_norm"],
    "olmo2": [*(t for t in LAYER if t not in ("attn_norm", "ffn_norm")), "attn_q_norm", "attn_k_norm", "post_attention_norm", "post_ffw_norm"],
    "granite": LAYER,
}
FFN = ["ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]
CONV = ["attn_norm", "shortconv.conv", "shortconv.in_proj", "shortconv.out_proj", *FFN]
LINEAR = [
    "attn_norm", "post_attention_norm", "attn_qkv", "attn_gate", "ssm_conv1d", "ssm_dt.bias", "ssm_a", "ssm_alpha", "ssm_beta", "ssm_norm", "ssm_out",
    *FFN[1:],
]
QWEN35_FULL = ["attn_norm", "post_attention_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm", *FFN[1:]]
# The hybrids' layers, each of its kind.
LAYERS = {"lfm2": [CONV, [*LAYER, "attn_q_norm", "attn_k_norm"], CONV], "qwen35": [LINEAR, QWEN35_FULL, LINEAR]}
FINAL_NORM = {"lfm2": "token_embd_norm.weight"}  # LFM2's final norm is named for the embeddings'
BARE = ("ssm_a",)  # tensors written without a .weight suffix
GGUF_ARCH = {arch: arch for arch in TINY_ARCHITECTURES} | {"llama3": "llama", "mistral": "llama", "phi3-longrope": "phi3"}
# Tensors outside the blocks besides the embeddings and the final norm.
GLOBAL = {"llama3": {"rope_freqs.weight"}, "phi3-longrope": {"rope_factors_long.weight", "rope_factors_short.weight"}}
# Architectures transformers' GGUF reader reads back (it reads Qwen3's, SmolLM3's, OLMo-2's and Granite's shapes
# wrongly); llama.cpp itself runs every one in tests/real/test_real_llamacpp_architectures.py.
READ_BACK = {"llama", "mistral", "qwen2", "gemma3", "phi3", "phi3-longrope", "gemma2", "lfm2"}
HEADS = [(arch, tied) for arch in ARCHS for tied in TINY_ARCHITECTURES[arch].heads]


def _names(reader: GGUFReader) -> dict[str, tuple[int, ...]]:
    """Tensor names with Hugging Face's (rows, columns) order of dimensions."""
    return {tensor.name: tuple(int(n) for n in reversed(tensor.shape)) for tensor in reader.tensors}


@pytest.fixture(scope="module")
def sources(tmp_path_factory, bpe_tok):
    root = tmp_path_factory.mktemp("architectures")
    return {(arch, tied): tiny_model(root / f"{arch}-{tied}", bpe_tok, arch, tied=tied, seed=3) for arch, tied in HEADS}


@pytest.mark.parametrize("arch,tied", HEADS)
def test_gguf_is_what_the_converter_writes(sources, tmp_path, arch, tied):
    folder = sources[arch, tied]
    path = tmp_path / "model.gguf"
    export_gguf(str(folder), path, kind="f32")
    reader = GGUFReader(path)
    name = GGUF_ARCH[arch]
    assert reader.fields["general.architecture"].contents() == name
    keys = {key.removeprefix(name + "."): field.contents() for key, field in reader.fields.items() if key.startswith(name + ".")}
    lists = {key for key, value in KEYS[arch].items() if isinstance(value, list)}  # pytest 9's approx takes no nesting
    assert {k: v for k, v in keys.items() if k not in lists} == pytest.approx({k: v for k, v in KEYS[arch].items() if k not in lists})
    assert {k: keys.get(k) for k in lists} == {k: KEYS[arch][k] for k in lists}
    layers = LAYERS.get(arch) or [TENSORS[arch]] * KEYS[arch]["block_count"]
    expected = {f"blk.{i}.{t}" + ("" if t.endswith(".bias") or t in BARE else ".weight") for i, kinds in enumerate(layers) for t in kinds}
    expected |= {"token_embd.weight", FINAL_NORM.get(arch, "output_norm.weight")} | GLOBAL.get(arch, set()) | (set() if tied and arch != "olmo2" else {"output.weight"})
    shapes = _names(reader)
    assert set(shapes) == expected
    if arch.startswith("phi3"):  # fused as Phi-3 has them: q, k, v rows in one matrix; gate and up in one
        assert shapes["blk.0.attn_qkv.weight"] == (32 + 2 * 16, 32) and shapes["blk.0.ffn_up.weight"] == (2 * 64, 32)
    original = AutoModelForCausalLM.from_pretrained(folder)
    if arch == "llama3":  # llama.cpp divides each rotary frequency by its factor; transformers' llama3 rope the same
        rope = original.model.rotary_emb
        factors = next(t for t in reader.tensors if t.name == "rope_freqs.weight").data
        plain = 1.0 / (10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float32) / 8))
        assert torch.allclose(plain / torch.tensor(factors), rope.inv_freq, rtol=1e-6)
        return  # transformers' GGUF reader has no place for rope_freqs
    if arch not in READ_BACK:
        return
    exported = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name).state_dict()
    weights = original.state_dict()
    assert exported.keys() == weights.keys()
    for key, tensor in weights.items():  # q/k reordered and Gemma's norms + 1 in the file, undone by the reader
        assert torch.allclose(exported[key].float(), tensor.float(), atol=1e-6), key


def test_the_docs_the_help_and_the_refusal_list_the_table(capsys, tmp_path, bpe_tok):
    root = Path(__file__).parents[2]
    assert architecture_table() in (root / "docs" / "export-gguf-architectures.md").read_text() and all(f"`{name}`" in architecture_table() for name in ARCHITECTURES)
    assert "models: " + ", ".join(f"`{name}`" for name in ARCHITECTURES) + " |" in (root / "README.md").read_text()
    with pytest.raises(SystemExit):
        main(["export-gguf", "--help"])
    assert exported_architectures() in " ".join(capsys.readouterr().out.split())
    model = tiny_model(tmp_path / "gpt2", bpe_tok)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "architectures": ["GPT2LMHeadModel"]}))
    err = cli_error(capsys, "export-gguf", model, "-o", tmp_path / "m.gguf")
    assert err.endswith("tokswap exports GGUF for " + ", ".join(ARCHITECTURES)) and not (tmp_path / "m.gguf").exists()


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


# Each architecture on a real llama.cpp vocabulary, with each head; eval, draft-vocab and heal once each, with the
# head the real models have: tied for Llama-3.2-1B, Qwen2.5-0.5B, Qwen3-0.6B, SmolLM3, Gemma-2/3 and Granite-3,
# untied for Mistral, Phi-3.5-mini and OLMo-2.
PIPELINE = [
    ("llama3", True), ("qwen2", True), ("gemma3", True), ("mistral", False), ("phi3", False), ("phi3-longrope", False), ("qwen3", True),
    ("smollm3", True), ("gemma2", True), ("olmo2", False), ("granite", True), ("lfm2", True), ("qwen35", True),
]
BOTH_HEADS = [(arch, tied) for arch, _ in PIPELINE for tied in TINY_ARCHITECTURES[arch].heads]
TARGET = "llamacpp:phi-3"
PROMPTS = [Prompt("en", "The quick brown"), Prompt("code", "def f(x):")]


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
    assert ("output.weight" in _names(GGUFReader(gguf))) == (not tied or arch == "olmo2")  # OLMo-2's graph needs one
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


@pytest.mark.parametrize("arch,tied", PIPELINE)
def test_heal_toward_the_source_then_draft_for_the_target(transplants, text, tmp_path, monkeypatch, arch, tied):
    """Toward its source, whose vocabulary is another, heal trains every architecture with finite weights; the
    healed folder drafts for the transplant in transformers' assisted generation with the target's own output,
    and UAG drafts with the source."""
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    out, healed = transplants[arch, tied][0], tmp_path / "healed"
    options = HealOptions(steps=1, batch_size=1, seq_len=24, warmup=1)
    assert heal(str(out), [str(text)], healed, options).steps == 1
    assert all(torch.isfinite(w).all() for w in AutoModelForCausalLM.from_pretrained(healed).state_dict().values())
    report = bench_draft(str(out), [str(healed)], json.loads((out / REPORT_FILE).read_text())["source"], prompts=PROMPTS, max_new_tokens=6)
    assert [mode.identical_to_target for mode in report.modes] == [True, True, True] and not report.failures
