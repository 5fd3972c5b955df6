import json
import subprocess
import sys

import pytest
import torch
from builders import TEXT, cli_error, tiny_llama
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokswap import TokswapError, transplant
from tokswap.byte_vocab import byte_vocab
from tokswap.staging import _umask


def _weights(folder):
    return AutoModelForCausalLM.from_pretrained(folder)


def _leftovers(parent, name):
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.tmp-")]


def test_tied_transplant_loads_with_plain_transformers(tmp_path, tied_model, spm_folder, bpe_tok, spm_tok):
    out = tmp_path / "out"
    report = transplant(str(tied_model), str(spm_folder), out)
    model, tokenizer = _weights(out), AutoTokenizer.from_pretrained(out)
    assert tokenizer.get_vocab() == spm_tok.get_vocab()
    assert model.config.vocab_size == len(spm_tok) and model.config.tie_word_embeddings
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert (model.config.bos_token_id, model.config.eos_token_id) == (spm_tok.bos_token_id, spm_tok.eos_token_id)
    assert model.generation_config.pad_token_id == spm_tok.pad_token_id
    source = _weights(tied_model).get_input_embeddings().weight
    new = model.get_input_embeddings().weight
    for target_token, source_token in (("a", "a"), ("\u2581", "Ġ"), ("\n", "Ċ")):
        assert torch.equal(new[spm_tok.convert_tokens_to_ids(target_token)], source[bpe_tok.convert_tokens_to_ids(source_token)])
    assert torch.isfinite(new).all()
    saved = json.loads((out / "tokswap_report.json").read_text())
    assert saved["counts"] == report.counts and saved["method"] == "subword" and saved["tied"]
    assert sum(report.counts[k] for k in ("shared", "fallback_twins", "special_mapped", "special_filled", "new", "padding")) == len(spm_tok)
    assert _leftovers(tmp_path, "out") == []
    assert out.stat().st_mode & 0o055 == 0o055 & ~_umask()


def test_untied_model_gets_output_rows_and_stays_untied(tmp_path, untied_model, spm_folder, bpe_tok, spm_tok):
    out = tmp_path / "out"
    transplant(str(untied_model), str(spm_folder), out, method="subword")
    model, source = _weights(out), _weights(untied_model)
    assert not model.config.tie_word_embeddings
    head, source_head = model.get_output_embeddings().weight, source.get_output_embeddings().weight
    assert not torch.equal(head, model.get_input_embeddings().weight)
    bos = spm_tok.bos_token_id
    assert torch.equal(head[bos], source_head[bpe_tok.bos_token_id])
    new_id = next(i for i in range(len(spm_tok)) if spm_tok.convert_ids_to_tokens(i) == "<start_of_turn>")
    assert head[new_id].abs().sum() > 0


def _with_a_shared_direction(folder):
    """A trained language model's final hidden states share a large mean μ (h·μ > 0 everywhere); a random tiny
    model's do not. A constant in one dimension of every input row gives it one."""
    model = _weights(folder)
    with torch.no_grad():
        model.get_input_embeddings().weight[:, 0] = 4.0
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("tied", "method"), [(True, "subword"), (False, "mean")])
def test_byte_fallback_twins_score_below_their_ordinary_tokens(tmp_path, bpe_tok, spm_folder, spm_tok, tied, method):
    """`<0x2C>` beside `,`: the tokenizer only emits `,`, so a twin that tied with it would draw greedy decoding
    to a token the target never says. Every method's twins end up below, on rows that score tokens only."""
    source = _with_a_shared_direction(tiny_llama(tmp_path / "source", bpe_tok, tied=tied, seed=3))
    report = transplant(str(source), str(spm_folder), tmp_path / "out", method=method)
    pairs = byte_vocab(spm_tok).twin_tokens()
    twins, ordinary = list(pairs), list(pairs.values())
    assert report.counts["fallback_twins"] == report.counts["fallback_twins_below"] == len(twins) > 10
    model = _weights(tmp_path / "out")
    with torch.no_grad():
        logits = model(spm_tok(TEXT[:1500], return_tensors="pt").input_ids[:, :128]).logits[0]
    assert (logits[:, twins] < logits[:, ordinary]).all()
    inputs = model.get_input_embeddings().weight
    assert tied or torch.equal(inputs[twins], inputs[ordinary])  # never emitted: untied input rows stay copies


def test_twins_tie_when_the_hidden_states_share_no_direction(tmp_path, tied_model, spm_folder, spm_tok):
    report = transplant(str(tied_model), str(spm_folder), tmp_path / "out")
    pairs = byte_vocab(spm_tok).twin_tokens()
    rows = _weights(tmp_path / "out").get_input_embeddings().weight
    assert report.counts["fallback_twins"] == len(pairs) and report.counts["fallback_twins_below"] == 0
    assert torch.equal(rows[list(pairs)], rows[list(pairs.values())])


def test_sharded_source_streams_other_tensors_unchanged(tmp_path, bpe_tok, spm_folder):
    source = tiny_llama(tmp_path / "sharded", bpe_tok, tied=False, shard="20KB", seed=2)
    out = tmp_path / "out"
    report = transplant(str(source), str(spm_folder), out)
    index = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    assert len(report.files) > 2 and set(index.values()) == set(report.files)
    src_index = json.loads((source / "model.safetensors.index.json").read_text())["weight_map"]
    name = "model.layers.1.mlp.down_proj.weight"
    with safe_open(source / src_index[name], "pt") as a, safe_open(out / index[name], "pt") as b:
        assert torch.equal(a.get_tensor(name), b.get_tensor(name))
    assert _weights(out).config.vocab_size == report.target_rows


def test_dtype_option_casts_every_float_tensor(tmp_path, tied_model, spm_folder):
    out = tmp_path / "out"
    transplant(str(tied_model), str(spm_folder), out, dtype="bfloat16", method="mean")
    with safe_open(out / "model.safetensors", "pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.bfloat16}


def test_target_model_rows_give_padding_rows(tmp_path, tied_model, spm_tok):
    target = tiny_llama(tmp_path / "target", spm_tok, rows=len(spm_tok) + 10)
    out = tmp_path / "out"
    report = transplant(str(tied_model), str(target), out)
    assert report.counts["padding"] == 10 and _weights(out).config.vocab_size == len(spm_tok) + 10


def test_tokenizer_json_target(tmp_path, tied_model, spm_folder, spm_tok):
    out = tmp_path / "out"
    transplant(str(tied_model), str(spm_folder / "tokenizer.json"), out, method="zero")
    assert AutoTokenizer.from_pretrained(out).get_vocab() == spm_tok.get_vocab()


def test_force_replaces_and_refuses_without_it(tmp_path, tied_model, spm_folder):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(TokswapError, match="--force"):
        transplant(str(tied_model), str(spm_folder), out)
    assert (out / "keep.txt").read_text() == "mine"
    transplant(str(tied_model), str(spm_folder), out, force=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()


def test_non_finite_source_rows_never_reach_disk(tmp_path, bpe_tok, spm_folder):
    source = tiny_llama(tmp_path / "nan", bpe_tok)
    model = _weights(source)
    with torch.no_grad():
        model.get_input_embeddings().weight[5] = float("nan")
    model.save_pretrained(source)
    out = tmp_path / "out"
    with pytest.raises(TokswapError, match="not finite"):
        transplant(str(source), str(spm_folder), out, method="mean")
    assert not out.exists() and _leftovers(tmp_path, "out") == []


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, tied_model, spm_folder):
    out = str(tmp_path / "out")
    assert "no such file" in cli_error(capsys, "transplant", str(tmp_path / "missing"), "--tokenizer", str(spm_folder), "-o", out)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "cannot load a tokenizer" in cli_error(capsys, "transplant", str(tied_model), "--tokenizer", str(broken), "-o", out)
    assert "no model weights" in cli_error(capsys, "transplant", str(spm_folder), "--tokenizer", str(spm_folder), "-o", out)
    assert "does not use a donor" in cli_error(capsys, "transplant", str(tied_model), "--tokenizer", str(spm_folder), "--donor", str(tied_model), "-o", out)
    assert not (tmp_path / "out").exists()


def test_model_without_input_embeddings(tmp_path, capsys, bpe_tok, spm_folder):
    source = tiny_llama(tmp_path / "headless", bpe_tok)
    with safe_open(source / "model.safetensors", "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if "embed_tokens" not in k}
    from safetensors.torch import save_file

    save_file(tensors, source / "model.safetensors")
    err = cli_error(capsys, "transplant", str(source), "--tokenizer", str(spm_folder), "-o", str(tmp_path / "out"))
    assert "no input embedding tensor" in err


def test_gguf_with_an_architecture_transformers_cannot_read(tmp_path, capsys, spm_folder):
    import gguf

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "notanarch")
    writer.add_tensor("token_embd.weight", torch.zeros(4, 8).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    err = cli_error(capsys, "transplant", str(path), "--tokenizer", str(spm_folder), "-o", str(tmp_path / "out"))
    assert "cannot load" in err


def test_console_script_prints_no_traceback(tmp_path, spm_folder):
    done = subprocess.run(
        [sys.executable, "-m", "tokswap.cli", "transplant", str(tmp_path / "nope"), "--tokenizer", str(spm_folder), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_truncated_shard_is_a_clear_error(tmp_path, capsys, bpe_tok, spm_folder):
    source = tiny_llama(tmp_path / "cut", bpe_tok, tied=False, shard="20KB", seed=3)
    shard = sorted(source.glob("model-*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[:-64])
    assert "truncated" in cli_error(capsys, "transplant", str(source), "--tokenizer", str(spm_folder), "-o", str(tmp_path / "out"))
