"""The `hypernet` method and `tokswap hypernet train` on tiny Llamas: exact subword start, learning, save/load,
resume, and an applied model that passes the drafter checks."""

import json
import shutil

import pytest
import torch
from builders import MORE, TEXT, cli_error, tiny_llama
from safetensors.torch import load_file

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.cli import main
from tokswap.hypernet.model import (
    WEIGHTS_FILE,
    Hypernet,
    describe_source,
    load_hypernet,
    predict,
    save_hypernet,
)
from tokswap.hypernet.objective import lm_loss, load_source_lm, make_batch
from tokswap.hypernet.options import TrainOptions
from tokswap.hypernet.train import Trainer, train
from tokswap.methods import FillRequest, get_method

SIZES = {"width": 32, "heads": 2, "ffn": 64, "layers": 2, "max_pieces": 6}
FAST = dict(seq_len=32, batch_size=4, vocab_min=300, vocab_max=700, recent_steps=4, **SIZES)

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "a.txt").write_text(TEXT)
    (folder / "b.txt").write_text(MORE * 40)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tied_model, corpus):
    out = tmp_path_factory.mktemp("hn") / "hn"
    report = train(str(tied_model), corpus, out, TrainOptions(steps=40, lr=3e-3, warmup=5, save_every=20, **FAST))
    return out, report


def _untrained(folder, matrices, **sizes):
    net = Hypernet(describe_source("tiny", matrices, **(sizes or SIZES)))
    save_hypernet(net, folder)
    return folder


@pytest.mark.parametrize("tied", [True, False])
def test_untrained_hypernetwork_is_exactly_subword(tmp_path, tied_model, untied_model, bpe_tok, spm_tok, tied):
    model = load_source_lm(str(tied_model if tied else untied_model))
    folder = _untrained(tmp_path / "hn", model.embeddings, **{**SIZES, "max_pieces": 2})
    plan = align(byte_vocab(bpe_tok), byte_vocab(spm_tok), model.rows)
    assert max(len(plan.source_pieces[r]) for r in plan.new) > 2
    request = FillRequest(plan, model.vocab, byte_vocab(spm_tok), model.embeddings)
    rows = get_method("hypernet", hypernet=str(folder), batch_size=7).fill(request)
    subword = get_method("subword").fill(request)
    assert rows.kinds == subword.kinds == (("input",) if tied else ("input", "output"))
    for kind in rows.kinds:
        torch.testing.assert_close(rows.matrix(kind), subword.matrix(kind), atol=1e-6, rtol=0)


def test_training_lowers_held_out_loss(trained, tied_model):
    out, report = trained
    assert report.steps == 40 and report.tokens > 0
    source = load_source_lm(str(tied_model))
    held_out = [MORE[i : i + 250] for i in range(0, 600, 150)] + [TEXT[i : i + 250] for i in range(7, 600, 150)]
    batch = make_batch(source, held_out, held_out * 3, 500, 32)
    trained_net = load_hypernet(out)
    fresh = Hypernet(trained_net.config)
    with torch.no_grad():
        before = lm_loss(fresh, fresh.config, source, batch).item()
        after = lm_loss(trained_net, trained_net.config, source, batch).item()
    assert after < before - 0.05, (before, after)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 41)) and all(r["seconds"] > 0 for r in log)


def test_save_load_round_trip_gives_identical_predictions(tmp_path, trained, tied_model):
    out, _ = trained
    net = load_hypernet(out)
    assert any(p.abs().sum() > 0 for p in net.heads.parameters())
    save_hypernet(net, tmp_path / "copy")
    again = load_hypernet(tmp_path / "copy")
    matrices = load_source_lm(str(tied_model)).embeddings
    pieces = [[5, 9, 30], [7], [], [1, 2, 3, 4, 5, 6, 7, 8]]
    with torch.no_grad():
        assert torch.equal(predict(net, matrices, pieces).input, predict(again, matrices, pieces).input)


def test_resume_continues_the_same_run(tmp_path, untied_model, corpus):
    options = dict(lr=3e-3, warmup=3, save_every=2, **FAST)
    train(str(untied_model), corpus, tmp_path / "straight", TrainOptions(steps=6, **options))
    train(str(untied_model), corpus, tmp_path / "resumed", TrainOptions(steps=3, **options))
    assert json.loads((tmp_path / "resumed" / ".resume" / "trainer.json").read_text())["step"] == 3
    report = train(str(untied_model), corpus, tmp_path / "resumed", TrainOptions(steps=6, **options))
    assert report.steps == 6
    straight, resumed = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("straight", "resumed"))
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], atol=1e-6, rtol=0)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / name / "log.jsonl").read_text().splitlines()] for name in ("straight", "resumed")]
    assert losses[0] == pytest.approx(losses[1], abs=1e-6) and len(losses[0]) == 6


def test_applied_model_passes_the_drafter_checks(tmp_path, trained, tied_model, spm_folder, capsys):
    hn, _ = trained
    out = tmp_path / "out"
    argv = ["transplant", str(tied_model), "--tokenizer", str(spm_folder), "--method", "hypernet", "--hypernet", str(hn), "-o", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "tokswap_report.json").read_text())
    assert report["method"] == "hypernet" and report["method_options"] == {"hypernet": str(hn)}
    subword = tmp_path / "subword"
    assert main(["transplant", str(tied_model), "--tokenizer", str(spm_folder), "-o", str(subword)]) == 0
    rows, base = (load_file(str(folder / "model.safetensors"))["model.embed_tokens.weight"] for folder in (out, subword))
    assert torch.isfinite(rows).all() and not torch.equal(rows, base)
    (tmp_path / "text.txt").write_text(TEXT + MORE)
    capsys.readouterr()
    assert main(["verify", str(out), "--target", str(spm_folder), "--data", str(tmp_path / "text.txt")]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path, capsys, trained, tied_model, untied_model, spm_folder, corpus, bpe_tok):
    hn, _ = trained
    base = ["transplant", str(untied_model), "--tokenizer", str(spm_folder), "--method", "hypernet", "-o"]
    assert "needs --hypernet" in cli_error(capsys, *base, str(tmp_path / "a"))
    assert "not a tokswap hypernetwork" in cli_error(capsys, *base, str(tmp_path / "b"), "--hypernet", str(tmp_path))
    assert "trained for a tied model" in cli_error(capsys, *base, str(tmp_path / "c"), "--hypernet", str(hn))
    other = tiny_llama(tmp_path / "other", bpe_tok, seed=5)
    capsys.readouterr()
    assert "not for this source model" in cli_error(
        capsys, "transplant", str(other), "--tokenizer", str(spm_folder), "--method", "hypernet", "--hypernet", str(hn), "-o", str(tmp_path / "d")
    )
    train_argv = ["hypernet", "train", str(tied_model), "--data", str(corpus), "--steps", "1", "-o"]
    assert "holds a run for" in cli_error(capsys, "hypernet", "train", str(untied_model), "--data", str(corpus), "--steps", "1", "-o", str(hn))
    assert "no .txt files" in cli_error(capsys, "hypernet", "train", str(tied_model), "--data", str(tmp_path / "none"), "--steps", "1", "-o", str(tmp_path / "e"))
    assert "not empty" in cli_error(capsys, *train_argv, str(corpus))
    assert "vocab min" in cli_error(capsys, *train_argv, str(tmp_path / "f"), "--vocab-min", "100")
    damaged = tmp_path / "damaged-hn"
    shutil.copytree(hn, damaged)
    (damaged / WEIGHTS_FILE).write_bytes((damaged / WEIGHTS_FILE).read_bytes()[:100])
    assert "damaged safetensors file" in cli_error(capsys, *base, str(tmp_path / "g"), "--hypernet", str(damaged))
    assert not any((tmp_path / name).exists() for name in "abcdfg")


def test_trainer_reports_parameters_and_builds_unit_scaled_features(tmp_path, tied_model, corpus):
    trainer = Trainer(str(tied_model), corpus, tmp_path / "hn", TrainOptions(steps=1, **FAST))
    batch = trainer.batch(3)
    assert batch.plan.new and batch.plan.shared and batch.tokens > 0
    assert batch.inputs.shape == (FAST["batch_size"], FAST["seq_len"])
    assert trainer.batch(3).inputs.equal(batch.inputs)
    assert trainer.config.scales["input"] == pytest.approx(trainer.source.embeddings.input.pow(2).mean().sqrt().item())


def test_negatives_are_new_tokens_of_a_larger_vocabulary_and_enter_the_softmax(tied_model):
    import random

    source = load_source_lm(str(tied_model))
    texts = [MORE[i : i + 250] for i in range(0, 600, 150)]
    plain = make_batch(source, texts, [MORE, TEXT] * 3, 400, 32)
    batch = make_batch(source, texts, [MORE, TEXT] * 3, 400, 32, negatives=50, full_vocab=100400, rng=random.Random(0))
    assert torch.equal(batch.inputs, plain.inputs) and not plain.negatives
    have = set(batch.token_bytes) | set(source.vocab.token_bytes)
    assert len(batch.negatives) == 50 and not have & set(batch.negatives)
    assert batch.negative_count == pytest.approx(100000 / 50, rel=0.01)
    net = Hypernet(describe_source("tiny", source.embeddings, **SIZES))
    with torch.no_grad():
        assert lm_loss(net, net.config, source, batch) > lm_loss(net, net.config, source, plain) + 0.5
