"""`tokswap heal` on tiny Llamas: byte chunks two tokenizations share, the sampled softmax, likelihood matching
toward the source, distillation toward a model with the same vocabulary, what each --train mode touches, the
folder it writes, and resume."""

import json
import math

import numpy as np
import pytest
import torch
from builders import MORE, TEXT, tiny_llama
from safetensors.torch import load_file

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.checkpoint import load_causal_lm
from tokswap.cli import main
from tokswap.heal.batches import sequences
from tokswap.heal.chunks import Side, chunk_sums, shared_chunks, text_ends
from tokswap.heal.options import HealOptions
from tokswap.heal.train import heal
from tokswap.pipeline import transplant
from tokswap.specs import resolve
from tokswap.tokenizer_io import bos_prefix
from tokswap.training.sampled_softmax import candidate_rows

FAST = dict(batch_size=2, seq_len=24, warmup=2, lr=3e-2, negatives=50, save_every=2)
EMBED = "model.embed_tokens.weight"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heal-data")
    (folder / "a.txt").write_text(TEXT * 4)
    (folder / "b.txt").write_text(MORE * 40)
    return folder


@pytest.fixture(scope="module")
def transplanted(tmp_path_factory, tied_model, spm_folder):
    """The tiny byte-level-BPE Llama moved onto the SentencePiece tokenizer by `subword`."""
    out = tmp_path_factory.mktemp("heal-start") / "drafter"
    transplant(str(tied_model), str(spm_folder), out)
    return out


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))


def test_chunks_run_between_the_boundaries_both_tokenizations_share():
    # student "ab|cde|fghi" with a BOS; teacher "a|b|cd|e|fghi" without one, so its first token is not predicted
    student, teacher = Side(np.array([2, 5, 9]), 0), Side(np.array([1, 2, 4, 5, 9]), 1)
    chunks = shared_chunks(student, teacher)
    assert chunks.student.tolist() == [-1, 0, 1]  # "ab": the teacher predicts "b" but not "a"
    assert chunks.teacher.tolist() == [-1, -1, 0, 0, 1]
    assert chunks.sizes.tolist() == [3, 4]
    sums = chunk_sums(torch.tensor([-9.0, -1.0, -2.0]), chunks.student, 2)
    assert sums.tolist() == [-1.0, -2.0]
    assert shared_chunks(Side(np.array([3]), 1), teacher).sizes.numel() == 0


def test_a_chunk_never_starts_at_a_boundary_only_one_side_has():
    # "Hello": the student (BOS) reads H|ell|o, the teacher (no BOS) Hel|lo and first predicts "lo" at offset 3,
    # where the student has no boundary: comparing the student's "o" with the teacher's "lo" would push "o" down
    chunks = shared_chunks(Side(np.array([1, 4, 5]), 0), Side(np.array([3, 5]), 1))
    assert chunks.sizes.numel() == 0 and chunks.student.tolist() == [-1, -1, -1] and chunks.teacher.tolist() == [-1, -1]
    # "Hello world": both have a boundary at 5, so " world" is one chunk both predict whole
    chunks = shared_chunks(Side(np.array([1, 4, 5, 11]), 0), Side(np.array([3, 5, 11]), 1))
    assert chunks.sizes.tolist() == [6] and chunks.student.tolist() == [-1, -1, -1, 0] and chunks.teacher.tolist() == [-1, -1, 0]


def test_token_ends_are_byte_offsets_in_the_text():
    vocab = [b"ab", b" cd", "é".encode(), b" ab"]
    assert text_ends(vocab, [0, 1, 2], "ab cdé".encode()).tolist() == [2, 5, 7]
    assert text_ends(vocab, [3, 1], b"ab cd").tolist() == [2, 5]  # SentencePiece's added leading space
    assert text_ends(vocab, [1], b"xyz") is None


def test_sequences_put_each_token_where_it_is_predicted():
    with_bos, without = sequences([7], [[1, 2, 3], [4]]), sequences([], [[1, 2, 3], [4]])
    nxt, predicted = with_bos.targets()
    assert with_bos.inputs.tolist() == [[7, 1, 2, 3], [7, 4, 0, 0]]
    assert predicted.tolist() == [[True, True, True], [True, False, False]] and nxt[0].tolist() == [1, 2, 3]
    _, predicted = without.targets()
    assert predicted.tolist() == [[True, True], [False, False]]
    values = torch.arange(6.0).view(2, 3)
    assert with_bos.per_token(values, 0).tolist() == [0, 1, 2] and without.per_token(values[:, :2], 0).tolist() == [0, 0, 1]


def test_the_sampled_softmax_estimates_the_partition_function_without_bias():
    logits = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 1.5  # heavier tails need far more samples than 300
    required = torch.tensor([3, 17, 4000])
    estimates = []
    for seed in range(300):
        rows, weights = candidate_rows(required, 5000, 200, torch.Generator().manual_seed(seed))
        assert set(required.tolist()) <= set(rows.tolist()) and len(rows) == 203 and bool((rows.diff() > 0).all())
        estimates.append(torch.logsumexp(logits[rows] + weights, 0).exp())
    assert float(torch.stack(estimates).mean()) == pytest.approx(float(logits.exp().sum()), rel=0.1)
    rows, weights = candidate_rows(required, 5000, 0, torch.Generator())
    assert rows.tolist() == list(range(5000)) and not weights.any()


def _rows(folder, name=EMBED):
    return load_file(str(folder / "model.safetensors"))[name]


def test_healing_toward_the_source_trains_only_the_new_rows(tmp_path, transplanted, tied_model, data):
    out = tmp_path / "healed"
    assert main(["heal", str(transplanted), "--data", str(data), "-o", str(out), "--steps", "4", "--train", "new", *(f"--{k.replace('_', '-')}={v}" for k, v in FAST.items())]) == 0
    before, after = _rows(transplanted), _rows(out)
    vocab = byte_vocab(_tokenizer(transplanted))
    plan = align(byte_vocab(_tokenizer(tied_model)), vocab, before.shape[0], before.shape[0])
    twins = vocab.fallback_twins()
    assert twins and not set(twins) & set(plan.new)  # copied from their ordinary tokens, so trained too
    new = torch.tensor(sorted({*plan.new, *twins}))
    kept = torch.ones(len(before), dtype=torch.bool)
    kept[new] = False
    assert torch.equal(after[kept], before[kept]) and not torch.equal(after[new], before[new])
    assert torch.isfinite(after).all()
    body = {k: v for k, v in load_file(str(out / "model.safetensors")).items() if k != EMBED}
    assert all(torch.equal(v, load_file(str(transplanted / "model.safetensors"))[k]) for k, v in body.items())
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["chunks"] > 0 and math.isfinite(r["alm"]) for r in log)
    report = json.loads((out / "tokswap_report.json").read_text())
    assert report["method"] == "subword" and report["heal"]["train"] == "new" and report["heal"]["teacher"].startswith("source")
    assert report["heal"]["trained_parameters"] == len(new) * before.shape[1] and "measured" not in report
    assert "tokswap heal" in (out / "README.md").read_text() and (out / "loss.png").stat().st_size > 0
    assert main(["verify", str(out), "--target", str(transplanted)]) == 0


def _tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_likelihood_matching_brings_the_student_toward_the_source(tmp_path, transplanted, data):
    options = HealOptions(steps=30, train="embeddings", schedule="constant", **{**FAST, "save_every": 100})  # the objective, not the schedule
    heal(str(transplanted), [str(data)], tmp_path / "healed", options)
    log = [json.loads(line) for line in (tmp_path / "healed" / "log.jsonl").read_text().splitlines()]
    first, last = (sum(r["alm"] for r in part) / len(part) for part in (log[:5], log[-5:]))
    assert last < 0.7 * first


def test_distillation_toward_a_model_with_the_same_vocabulary(tmp_path, transplanted, spm_tok, data):
    teacher = tiny_llama(tmp_path / "teacher", spm_tok, seed=5)
    out = tmp_path / "healed"
    options = HealOptions(steps=30, teacher=str(teacher), top_k=8, **{**FAST, "lr": 1e-2, "body_lr": 1e-2, "save_every": 100})
    report = heal(str(transplanted), [str(data)], out, options)
    assert report.train == "all" and report.teacher == str(teacher)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    first, last = (sum(r["kl"] for r in part) / len(part) for part in (log[:5], log[-5:]))
    assert last < 0.7 * first and 0 <= log[-1]["agree"] <= 1
    weights, start = load_file(str(out / "model.safetensors")), load_file(str(transplanted / "model.safetensors"))
    assert all(not torch.equal(weights[k], start[k]) for k in start if "layers.0.self_attn" in k)


def test_total_variation_and_plain_cross_entropy_are_logged(tmp_path, transplanted, spm_tok, data, monkeypatch):
    monkeypatch.setattr("tokswap.heal.train.FIGURE_POSITIONS", 10_000)  # figures at every position
    teacher = tiny_llama(tmp_path / "teacher", spm_tok, seed=5)
    options = HealOptions(steps=2, teacher=str(teacher), divergence="tv", ce_weight=0.5, train="embeddings", precision="float32", **{**FAST, "negatives": 0})
    heal(str(transplanted), [str(data)], tmp_path / "healed", options)
    record = json.loads((tmp_path / "healed" / "log.jsonl").read_text().splitlines()[-1])
    assert 0 <= record["tv"] <= 1 and record["loss"] == pytest.approx(record["tv"] + 0.5 * record["ce"], rel=1e-4)


def test_logged_figures_are_over_every_row_whatever_the_sample(tmp_path, transplanted, spm_tok, data):
    """The objective is sampled; `ce` and `agree` are not: the same first step with 5 sampled rows or all."""
    teacher = tiny_llama(tmp_path / "teacher", spm_tok, seed=5)
    records = []
    for negatives in (0, 5):
        heal(str(transplanted), [str(data)], tmp_path / f"healed-{negatives}", HealOptions(steps=1, teacher=str(teacher), **{**FAST, "negatives": negatives}))
        records.append(json.loads((tmp_path / f"healed-{negatives}" / "log.jsonl").read_text().splitlines()[0]))
    full, sampled = records
    assert sampled["ce"] == pytest.approx(full["ce"], rel=1e-5) and sampled["agree"] == full["agree"]
    assert sampled["kl"] != pytest.approx(full["kl"], rel=1e-3)


def test_resume_continues_the_same_run_and_reuses_the_teacher(tmp_path, transplanted, data, monkeypatch, capsys):
    options = dict(train="embeddings", **FAST)
    heal(str(transplanted), [str(data)], tmp_path / "straight", HealOptions(steps=6, **options))
    calls = []
    from tokswap.heal.teachers import SourceTeacher

    original = SourceTeacher.compute
    monkeypatch.setattr(SourceTeacher, "compute", lambda self, *a: calls.append(1) or original(self, *a))
    heal(str(transplanted), [str(data)], tmp_path / "resumed", HealOptions(steps=3, **options))
    capsys.readouterr()
    report = heal(str(transplanted), [str(data)], tmp_path / "resumed", HealOptions(steps=6, **{**options, "lr": 0.5}))
    err = capsys.readouterr().err
    assert "resuming" in err and report.steps == 6 and calls == []  # every step's teacher outputs came from the cache
    assert "Writing model shards" not in err  # checkpoints are saved quietly
    logged = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert report.tokens == sum(r["tokens"] for r in logged)  # both invocations' tokens, as steps and minutes
    assert report.tokens_per_second == pytest.approx(report.tokens / logged[-1]["seconds"], rel=0.1)
    torch.testing.assert_close(_rows(tmp_path / "resumed"), _rows(tmp_path / "straight"), atol=1e-6, rtol=0)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / name / "log.jsonl").read_text().splitlines()] for name in ("straight", "resumed")]
    assert losses[0] == pytest.approx(losses[1], abs=1e-6) and len(losses[0]) == 6


def test_two_processes_train_one_model(tmp_path, transplanted, data):
    """The same command under torchrun (as under `accelerate launch` on GPUs): each process draws its own text,
    gradients are averaged, the tokens of both are counted, and one folder is written."""
    import os
    import subprocess
    import sys

    out = tmp_path / "healed"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "tokswap.cli", "heal", str(transplanted), "--data", str(data), "-o", str(out), "--steps", "2", "--device", "cpu"]
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in FAST.items()]
    done = subprocess.run([*command, *flags], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    logged = sum(json.loads(line)["tokens"] for line in (out / "log.jsonl").read_text().splitlines())  # the main process's
    assert report["processes"] == 2 and report["tokens"] > logged
    assert torch.isfinite(_rows(out)).all()


def test_a_healed_folder_keeps_its_dtype_and_hot_vocabulary(tmp_path, tied_model, spm_folder, data):
    from safetensors import safe_open

    from tokswap.drafting.draft_vocab_file import DRAFT_VOCAB_FILE, DraftVocab, save_draft_vocab
    from tokswap.drafting.hot_head import hot_rows, load_drafter

    start = tmp_path / "bf16"
    transplant(str(tied_model), str(spm_folder), start, dtype="bfloat16")
    rows = _rows(start).shape[0]
    save_draft_vocab(DraftVocab(torch.arange(0, rows, 3), rows), start / DRAFT_VOCAB_FILE, {})
    out = tmp_path / "healed"
    heal(str(start), [str(data)], out, HealOptions(steps=2, train="embeddings", **FAST))
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16" and "bfloat16" in (out / "README.md").read_text()
    assert hot_rows(load_drafter(str(out)).module) == len(range(0, rows, 3))
    assert not (out / "state").exists() and (out / ".resume" / "trainer.json").is_file()


def test_the_teacher_continues_prompts_cut_from_the_data(tmp_path, transplanted, spm_tok, data):
    from tokswap.heal.generation import BLOCK, TeacherContinuations
    from tokswap.heal.openings import Openings
    from tokswap.heal.teachers import ModelTeacher, TeacherSetup

    teacher = ModelTeacher(resolve(str(tiny_llama(tmp_path / "teacher", spm_tok, seed=5))), TeacherSetup(torch.device("cpu"), torch.float32, 10**8), spm_tok, 8)
    openings = Openings(spm_tok, [(data / "a.txt").read_text()], [], 0.0)
    pool = TeacherContinuations(teacher, openings, per_step=2, seq_len=16, temperature=0.0, key="k")
    rows = pool.for_step(seed=0, step=1, process=0)
    first, tails = [row.ids for row in rows], [row.tail for row in rows]
    assert len(first) == 2 and all(4 < len(row) <= 16 for row in first)
    assert [tail.start for tail in tails] == [4, 4] and {row.label for row in rows} == {"teacher:data"}
    scored, read = teacher.compute(first, tails), teacher.compute(first, [None, None])  # what it scored writing, and read whole
    for name in ("ids", "logp", "rest"):
        torch.testing.assert_close(scored[name], read[name], atol=1e-4, rtol=0)
    prompt = first[0][:4]
    inputs = torch.tensor([teacher.prefix + prompt])
    greedy = teacher.model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=12, do_sample=False, top_k=None, top_p=None)[0, inputs.shape[1] :].tolist()
    assert first[0][4:] == greedy[: len(first[0]) - 4]  # the teacher's own greedy continuation
    again = TeacherContinuations(teacher, openings, per_step=2, seq_len=16, temperature=0.0, key="k")
    assert [row.ids for row in again.for_step(seed=0, step=1, process=0)] == first and [row.ids for row in again.for_step(0, BLOCK, 0)] != first
    report = heal(str(transplanted), [str(data)], tmp_path / "healed", HealOptions(steps=2, teacher=str(teacher.spec.path), generated=0.5, **FAST))
    assert report.steps == 2 and report.tokens > 0


def test_on_policy_windows_are_the_students_own_text_and_resume_exactly(tmp_path, transplanted, spm_tok, data, monkeypatch):
    """With --on-policy the student writes a share of the windows at each block's first step; a run resumed
    inside a block trains on the block the interrupted run wrote, so it ends where an uninterrupted one does."""
    from tokswap.heal import generation
    from tokswap.heal.openings import Openings

    teacher = tiny_llama(tmp_path / "teacher", spm_tok, seed=5)
    monkeypatch.setattr(generation, "BLOCK", 4)
    written = []
    original = generation.StudentContinuations._block
    monkeypatch.setattr(generation.StudentContinuations, "_block", lambda self, *a: written.append(a) or original(self, *a))
    options = dict(teacher=str(teacher), on_policy=0.5, generated=0.0, student_temperature=0.0, mismatch_weight=2.0, train="embeddings", **FAST)
    heal(str(transplanted), [str(data)], tmp_path / "straight", HealOptions(steps=6, **options))
    assert [block for _, block, _ in written] == [0, 1]
    heal(str(transplanted), [str(data)], tmp_path / "resumed", HealOptions(steps=3, **options))
    heal(str(transplanted), [str(data)], tmp_path / "resumed", HealOptions(steps=6, **options))
    assert [block for _, block, _ in written[2:]] == [0, 1]  # block 0 was not written again on resuming at step 3
    torch.testing.assert_close(_rows(tmp_path / "resumed"), _rows(tmp_path / "straight"), atol=1e-6, rtol=0)
    student = load_causal_lm(resolve(str(transplanted)))
    pool = generation.StudentContinuations(student, bos_prefix(spm_tok), torch.float32, Openings(spm_tok, [(data / "a.txt").read_text()], [], 0.0), 1, 16, 0.0)
    (written,) = pool.for_step(seed=0, step=0, process=0)
    row = written.ids
    assert written.tail is None and written.label == "student:data"  # the teacher reads the student's text whole
    inputs = torch.tensor([bos_prefix(spm_tok) + row[:4]])
    greedy = student.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=12, do_sample=False, top_k=None, top_p=None)[0, inputs.shape[1] :].tolist()
    assert row[4:] == greedy[: len(row) - 4]


def test_the_head_reads_a_strided_batch_without_copying_its_weight_per_sequence(tmp_path, spm_tok):
    """Generating, transformers gives the head the last position of each sequence, a strided slice; read as is
    by a frozen head, it made the transposed head contiguous once per sequence (10 GB for 32 sequences of
    Gemma-3 in bfloat16, measured with heal's --generated)."""
    from torch.profiler import ProfilerActivity, profile

    from tokswap.checkpoint import frozen, load_causal_lm

    model = frozen(load_causal_lm(resolve(str(tiny_llama(tmp_path / "teacher", spm_tok, seed=5)))), torch.device("cpu")).to(torch.bfloat16)
    hidden = torch.randn(8, 6, model.config.hidden_size, dtype=torch.bfloat16)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as trace:
        logits = model.get_output_embeddings()(hidden[:, -1:, :])
    assert logits.shape == (8, 1, model.config.vocab_size)
    copied = [8, model.config.hidden_size, model.config.vocab_size]
    assert not [e.key for e in trace.key_averages(group_by_input_shape=True) if copied in e.input_shapes]


def test_a_model_teacher_continues_half_the_windows_unless_told_otherwise():
    from tokswap.heal.train import resolved_options

    report = {"source": "smollm2-135m"}
    assert resolved_options(HealOptions(steps=1, teacher="gemma-3-270m"), report, "m").generated == 0.5
    assert resolved_options(HealOptions(steps=1, teacher="gemma-3-270m", generated=0.0), report, "m").generated == 0.0
    assert resolved_options(HealOptions(steps=1), report, "m").generated == 0.0


def test_the_body_learns_faster_toward_a_model_teacher_unless_told_otherwise():
    from tokswap.heal.train import resolved_options

    report = {"source": "smollm2-135m"}
    toward_target = resolved_options(HealOptions(steps=1, teacher="gemma-3-270m"), report, "m").body_lr
    assert toward_target > resolved_options(HealOptions(steps=1), report, "m").body_lr
    assert resolved_options(HealOptions(steps=1, teacher="gemma-3-270m", body_lr=1e-5), report, "m").body_lr == 1e-5


def test_the_written_text_is_counted_once_a_step_with_its_kinds_and_scripts(tmp_path, spm_tok):
    """A resumed run logs its steps again: the last record of a step counts."""
    from tokswap.heal.diversity import diversity, log_written
    from tokswap.heal.generation import Written

    ids = spm_tok("hello world hello world", add_special_tokens=False).input_ids
    log = tmp_path / "written-0.jsonl"
    log_written(log, 0, [Written([7, *ids], 1, "teacher:english/English", None)])
    log_written(log, 1, [Written([8, *ids[:2]], 1, "teacher:language/German", None)])
    log_written(log, 1, [Written([8, *ids[:2]], 1, "teacher:language/German", None)])
    figures = diversity([log], spm_tok)
    assert figures.sequences == 2 and figures.written_tokens == len(ids) + 2 and figures.distinct_prompts == 2
    assert figures.kinds == {"english": 1, "language": 1} and figures.languages == {"English": 1, "German": 1}
    assert figures.distinct["1-grams"] == pytest.approx(len(set(ids)) / (len(ids) + 2), abs=1e-4) and set(figures.scripts) == {"LATIN"}


def test_the_source_teacher_reads_each_window_as_a_padded_batch_would(tmp_path, spm_tok):
    """Windows of different lengths, read one at a time: the same log-likelihoods and hidden states as the
    batch padded to the longest (causal attention never sees the padding)."""
    from tokswap.heal.teachers import SourceTeacher, TeacherSetup

    teacher = SourceTeacher(resolve(str(tiny_llama(tmp_path / "source", spm_tok, seed=2))), TeacherSetup(torch.device("cpu"), torch.float32, 0))
    windows = [TEXT[:40], MORE[:90], TEXT[:15]]
    out = teacher.compute(windows, [len(w.encode()) for w in windows])
    ids = [out[f"ids{i}"].tolist() for i in range(3)]
    assert len({len(row) for row in ids}) == 3
    seqs, hidden, head = teacher._read(ids, 0, picked=True)
    for i in range(3):
        torch.testing.assert_close(out[f"logp{i}"], seqs.per_token(head.picked - head.normalizer, i), atol=1e-5, rtol=0)
        torch.testing.assert_close(out[f"hidden{i}"], seqs.after_token(hidden, i).to(torch.bfloat16), atol=1e-2, rtol=1e-2)
