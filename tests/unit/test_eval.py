import json
import math

import pytest
import torch
import torch.nn.functional as F
from builders import tiny_llama
from transformers import AutoModelForCausalLM

from tokswap import TokswapError, transplant
from tokswap.cli import main
from tokswap.drafting.bench_draft import bench_draft
from tokswap.drafting.options import DraftSettings
from tokswap.drafting.prompts import Prompt
from tokswap.eval.bits_per_byte import score_text, windows
from tokswap.gguf_reading.golden import SEPARATOR, read_golden

TEXT = "Tokenizers split text into pieces. Der Fuchs springt über den Hund. " * 6


@pytest.fixture(scope="module")
def drafter(tmp_path_factory, spm_tok, bpe_folder):
    """A tiny model trained on nothing, moved from the SentencePiece vocabulary onto the byte-level one."""
    source = tiny_llama(tmp_path_factory.mktemp("spm_model"), spm_tok, seed=5)
    out = tmp_path_factory.mktemp("drafter") / "out"
    transplant(str(source), str(bpe_folder), out)
    return out


def test_bits_per_byte_equals_a_hand_computation(tied_model, bpe_tok):
    model = AutoModelForCausalLM.from_pretrained(tied_model).eval()
    ids = torch.tensor([bpe_tok(TEXT).input_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
    nll_bits = F.cross_entropy(logits, ids[0, 1:], reduction="sum").item() / math.log(2)
    score = score_text(model, bpe_tok, TEXT, window=ids.shape[1])
    assert score.tokens == ids.shape[1] - 1
    assert score.bits_per_byte == pytest.approx(nll_bits / len(TEXT.encode()), rel=1e-5)
    windowed = score_text(model, bpe_tok, TEXT, window=16)
    assert windowed.tokens == score.tokens and windowed.bits_per_byte > 0


@pytest.mark.parametrize("prefix", [0, 1])
@pytest.mark.parametrize("n_tokens,size", [(1, 4), (10, 4), (37, 8), (8, 9)])
def test_windows_predict_every_token_exactly_once(n_tokens, size, prefix):
    predicted = [t for start, end in windows(n_tokens, prefix, size) for t in range(start + 1, end)]
    first = prefix if prefix else 1
    assert predicted == list(range(first, prefix + n_tokens))
    assert all(end - start <= size for start, end in windows(n_tokens, prefix, size))


def test_eval_cli_json_with_baseline_and_plot(tmp_path, capsys, tied_model, drafter):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "en.txt").write_text(TEXT)
    (tmp_path / "data" / "de.txt").write_text("Der schnelle braune Fuchs springt über den faulen Hund. " * 5)
    plot = tmp_path / "bpb.png"
    assert main(["eval", str(drafter), "--data", str(tmp_path / "data"), "--baseline", str(tied_model), "--json", "--plot", str(plot)]) == 0
    report = json.loads(capsys.readouterr().out)
    row = report["models"][str(drafter)]["en"]
    assert {"bits_per_byte", "token_perplexity", "tokens", "bytes_per_token", "bpb_ratio", "ppl_ratio"} <= set(row)
    base = report["models"][str(tied_model)]["en"]
    assert row["bpb_ratio"] == pytest.approx(row["bits_per_byte"] / base["bits_per_byte"])
    assert plot.stat().st_size > 1000


def test_eval_bad_data_is_a_user_error(tmp_path, capsys, tied_model):
    assert main(["eval", str(tied_model), "--data", str(tmp_path / "none.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


def _verify(capsys, out, target):
    capsys.readouterr()
    code = main(["verify", str(out), "--target", str(target)])
    return code, capsys.readouterr().out


def test_verify_passes_on_a_transplant(tmp_path, capsys, drafter, bpe_folder):
    (tmp_path / "t.txt").write_text(TEXT + " 日本語 \u00a0\t\n")
    assert main(["verify", str(drafter), "--target", str(bpe_folder), "--data", str(tmp_path / "t.txt")]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "PASS  bytes t" in out


def _broken_copy(tmp_path, drafter, name):
    import shutil

    copy = tmp_path / name
    shutil.copytree(drafter, copy)
    return copy


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _rename_last_merged_token(data):
    """Change one token's string; the merge that built it goes too, or the tokenizer would not load."""
    vocab = data["model"]["vocab"]
    token = max(vocab, key=vocab.get)
    vocab["zzz"] = vocab.pop(token)
    data["model"]["merges"] = [m for m in data["model"]["merges"] if "".join(m) != token]


def test_verify_names_what_a_broken_copy_changed(tmp_path, capsys, drafter, bpe_folder):
    renamed = _broken_copy(tmp_path, drafter, "renamed")
    _edit_json(renamed / "tokenizer.json", _rename_last_merged_token)
    resized = _broken_copy(tmp_path, drafter, "resized")
    _edit_json(resized / "config.json", lambda d: d.__setitem__("vocab_size", d["vocab_size"] + 1))
    rebos = _broken_copy(tmp_path, drafter, "rebos")
    _edit_json(rebos / "tokenizer_config.json", lambda d: d.__setitem__("bos_token", "<|im_end|>"))
    untemplated = _broken_copy(tmp_path, drafter, "untemplated")
    _edit_json(untemplated / "tokenizer_config.json", lambda d: d.pop("chat_template", None))
    (untemplated / "chat_template.jinja").unlink(missing_ok=True)
    for folder, failing in ((renamed, "FAIL  vocab"), (resized, "FAIL  config vocab_size"), (rebos, "FAIL  special ids"), (untemplated, "FAIL  chat template")):
        code, out = _verify(capsys, folder, bpe_folder)
        assert code == 1 and failing in out, (folder.name, out)


def test_verify_reports_the_first_diverging_token(bpe_tok, spm_tok):
    from tokswap.eval.verify import text_equivalence

    check = text_equivalence("en", spm_tok, bpe_tok, "Hello world")
    assert not check.ok and check.detail.startswith("token 0 (byte 0)")


def test_golden_files_round_trip(tmp_path, bpe_tok):
    texts = ["Hello world", "", " über\n\tx"]
    inp = tmp_path / "ggml-vocab-tiny.gguf.inp"
    inp.write_text("".join(t + SEPARATOR for t in texts), encoding="utf-8")
    lines = [" " + " ".join(map(str, bpe_tok.encode(t, add_special_tokens=False))) if t else "" for t in texts]
    inp.with_suffix(".out").write_text("\n".join(lines) + "\n")
    cases = read_golden(inp)
    assert [c.text for c in cases] == texts and cases[1].ids == []
    from tokswap.eval.verify import golden_check

    assert golden_check(inp, bpe_tok).detail == "3/3 match"
    inp.with_suffix(".out").write_text("\n".join(lines[:2] + [" 1 2"]) + "\n")
    failing = golden_check(inp, bpe_tok)
    assert not failing.ok and failing.detail.startswith("2/3 match")
    inp.with_suffix(".out").write_text("1\n")
    with pytest.raises(TokswapError, match="lines for 3 test strings"):
        read_golden(inp)
    inp.write_text(SEPARATOR.join(texts), encoding="utf-8")
    inp.with_suffix(".out").write_text("\n".join(lines) + "\n")
    assert [c.text for c in read_golden(inp)] == texts


def test_bench_draft_with_a_transplanted_drafter_is_identical(tmp_path, bpe_folder, drafter, bpe_tok, spm_tok):
    target = tiny_llama(tmp_path / "target", bpe_tok, seed=7)
    original = tiny_llama(tmp_path / "original", spm_tok, seed=5)
    prompts = [Prompt("en", "The quick brown"), Prompt("code", "def f(x):")]
    report = bench_draft(str(target), [str(drafter)], str(original), prompts=prompts, max_new_tokens=12)
    alone, assisted, uag = report.modes
    assert alone.tokens_per_target_call == 1.0 and alone.new_tokens == 24 and alone.prompts == 2
    assert assisted.identical_to_target and assisted.target_calls <= alone.target_calls
    assert uag.mode == "uag" and uag.identical_to_target and uag.new_tokens == 24 and not report.failures
    assert list(report.categories) == ["en", "code"] and [r.new_tokens for r in report.categories["code"]] == [12, 12, 12]


def test_bench_draft_samples_every_mode_uag_through_universal_speculative_decoding(tmp_path, drafter, bpe_tok, spm_tok):
    target = tiny_llama(tmp_path / "target", bpe_tok, seed=7)
    original = tiny_llama(tmp_path / "original", spm_tok, seed=5)
    settings = DraftSettings(temperature=0.8, draft_tokens=2)
    report = bench_draft(str(target), [str(drafter)], str(original), prompts=[Prompt("en", "The quick brown"), Prompt("code", "def f(x):")], max_new_tokens=12, settings=settings)
    assert [m.identical_to_target for m in report.modes] == [None, None, None] and not report.failures
    uag = report.modes[2]
    assert uag.drafted_tokens > 0 and 0 <= uag.acceptance <= 1 and uag.new_tokens > 0


def test_bench_draft_refuses_a_drafter_with_another_vocabulary(tied_model, spm_tok, tmp_path):
    other = tiny_llama(tmp_path / "other", spm_tok)
    with pytest.raises(TokswapError, match="does not share the target's vocabulary"):
        bench_draft(str(tied_model), [str(other)], max_new_tokens=2)
