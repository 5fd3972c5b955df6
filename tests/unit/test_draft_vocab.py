"""Hot vocabularies: EAGLE-3's d2t/t2d, the ranking, the head that computes only kept rows, `draft-vocab`, and
`bench-draft` as the drafting yardstick."""

import json

import pytest
import torch
from builders import tiny_llama
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.utils import GenerationMixin

from tokswap import TokswapError, load_drafter, transplant
from tokswap.cli import main
from tokswap.drafting.bench_draft import ModeResult, bench_draft, format_report
from tokswap.drafting.calibration import Calibration, choose, prompt_windows, ranked
from tokswap.drafting.draft_vocab_file import DRAFT_VOCAB_FILE, DraftVocab, read_draft_vocab
from tokswap.drafting.hot_head import HotHead, with_hot_head
from tokswap.drafting.options import DraftSettings
from tokswap.drafting.prompts import BUILT_IN_PROMPTS, Prompt, categories, file_prompts
from tokswap.texts import text_files, text_paths

CALIBRATION = "The quick brown fox jumps over the lazy dog. def f(x):\n    return x * 2\n" * 30


@pytest.fixture(scope="module")
def pair(tmp_path_factory, spm_tok, bpe_tok, bpe_folder):
    """A tiny target on the byte-level vocabulary and a transplanted drafter for it (a tokswap folder)."""
    root = tmp_path_factory.mktemp("pair")
    target = tiny_llama(root / "target", bpe_tok, seed=7)
    source = tiny_llama(root / "source", spm_tok, seed=5)
    transplant(str(source), str(bpe_folder), root / "drafter")
    (root / "calibration.txt").write_text(CALIBRATION)
    return target, root / "drafter", root / "calibration.txt"


def test_eagle3_convention_round_trips_and_refuses_inconsistent_tensors():
    vocab = DraftVocab(torch.tensor([0, 3, 4, 9]), 12)
    tensors = vocab.eagle3()
    assert tensors["d2t"].tolist() == [0, 2, 2, 6]  # target id = draft id + d2t[draft id]
    assert tensors["t2d"].nonzero().flatten().tolist() == [0, 3, 4, 9] and tensors["t2d"].shape == (12,)
    back = DraftVocab.from_eagle3(tensors["d2t"], tensors["t2d"])
    assert back.target_ids.tolist() == [0, 3, 4, 9] and back.target_size == 12
    with pytest.raises(ValueError, match="same sorted set"):
        DraftVocab.from_eagle3(tensors["d2t"], torch.zeros(12, dtype=torch.bool))
    with pytest.raises(ValueError, match="same sorted set"):
        DraftVocab.from_eagle3(torch.tensor([5, 0]), torch.ones(12, dtype=torch.bool))


def test_ranking_is_generated_then_text_then_id_and_end_tokens_are_always_kept():
    generated = torch.tensor([0, 5, 0, 5, 1, 0])
    text = torch.tensor([9, 1, 7, 2, 0, 7])
    assert ranked([generated, text]).tolist() == [3, 1, 4, 0, 2, 5]
    assert choose([generated, text], 3, always=[5]).target_ids.tolist() == [1, 3, 5]
    with pytest.raises(TokswapError, match="between 2"):
        choose([generated, text], 1, always=[4, 5])
    with pytest.raises(TokswapError, match="and 6"):
        choose([generated, text], 7, always=[])


def test_prompt_windows_spread_over_every_text():
    windows = prompt_windows([list(range(100)), list(range(1000, 1010))], count=5, length=8)
    assert [w[0] for w in windows] == [0, 23, 46, 69, 92, 1000] and all(len(w) == 8 for w in windows)


def test_hot_head_computes_kept_rows_only_and_the_rest_is_minus_infinity(tied_model):
    model = AutoModelForCausalLM.from_pretrained(tied_model).eval()
    ids = torch.tensor([[5, 17, 99, 230]])
    with torch.no_grad():
        full = model(ids).logits
        kept = torch.tensor([1, 5, 17, 40, 230, 399])
        with_hot_head(model, DraftVocab(kept, full.shape[-1]))
        hot = model(ids).logits
    assert isinstance(model.get_output_embeddings(), HotHead) and hot.shape == full.shape
    assert torch.allclose(hot[..., kept], full[..., kept], atol=1e-6)
    rest = torch.ones(full.shape[-1], dtype=torch.bool)
    rest[kept] = False
    assert torch.isinf(hot[..., rest]).all() and (hot[..., rest] < 0).all()
    with pytest.raises(TokswapError, match="output head has"):
        with_hot_head(AutoModelForCausalLM.from_pretrained(tied_model), DraftVocab(kept, 500))


def test_draft_vocab_writes_the_folder_unchanged_plus_eagle3_tensors(pair, tmp_path, capsys):
    target, drafter, calibration = pair
    out = tmp_path / "hot"
    assert main(["draft-vocab", str(drafter), "--target", str(target), "--calibration", str(calibration), "--keep", "64", "-o", str(out), "--prompts", "6", "--new-tokens", "5", "--no-built-in"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["keep"] == 64 and report["calibration"]["prompts"] >= 6 and report["coverage"]["generated"] == 1.0  # 30 tokens generated
    assert report["category_coverage"] == {"calibration": 1.0}
    assert (out / "model.safetensors").read_bytes() == (drafter / "model.safetensors").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in drafter.iterdir()), DRAFT_VOCAB_FILE])
    tensors = load_file(out / DRAFT_VOCAB_FILE)
    assert tensors["d2t"].dtype == torch.int64 and tensors["t2d"].dtype == torch.bool and int(tensors["t2d"].sum()) == 64
    end = AutoModelForCausalLM.from_pretrained(target).generation_config.eos_token_id
    assert tensors["t2d"][end]
    section = json.loads((out / "tokswap_report.json").read_text())["draft_vocab"]
    assert section["keep"] == 64 and section["file"] == DRAFT_VOCAB_FILE
    assert "64 of 400 target tokens" in (out / "README.md").read_text() and "load_drafter" in (out / "README.md").read_text()
    text_out = tmp_path / "hot-text"
    assert main(["draft-vocab", str(drafter), "--target", str(target), "--calibration", str(calibration), "--keep", "4", "-o", str(text_out), "--source", "text"]) == 0
    counts = torch.bincount(torch.tensor(AutoTokenizer.from_pretrained(target)(CALIBRATION).input_ids), minlength=400)
    kept = read_draft_vocab(text_out).target_ids
    assert json.loads(capsys.readouterr().out)["coverage"] == {"text": pytest.approx(float(counts[kept].sum() / counts.sum()))}
    others = [i for i in torch.sort(counts, descending=True, stable=True).indices.tolist() if i != end]
    assert kept.tolist() == sorted([end, *others[:3]])


def test_by_default_the_target_continues_the_built_in_prompts_of_every_category(pair, tmp_path, capsys):
    """No calibration text needed; with one, it is one more category. Each category's generated tokens count as
    much as any other's, and the coverage of each is reported."""
    target, drafter, calibration = pair
    out = tmp_path / "hot"
    assert main(["draft-vocab", str(drafter), "--target", str(target), "--keep", "120", "-o", str(out), "--new-tokens", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["category_coverage"]) == categories(BUILT_IN_PROMPTS) and report["calibration"]["prompts"] == len(BUILT_IN_PROMPTS)
    assert report["calibration"]["files"] == [] and "text" not in report["coverage"]
    assert "per prompt category: question" in (out / "README.md").read_text()
    argv = ["draft-vocab", str(drafter), "--target", str(target), "--calibration", str(calibration), "--keep", "120", "--new-tokens", "6", "--prompts", "4"]
    assert main([*argv, "-o", str(tmp_path / "both")]) == 0
    both = json.loads(capsys.readouterr().out)
    assert list(both["category_coverage"]) == [*categories(BUILT_IN_PROMPTS), "calibration"] and both["calibration"]["prompts"] == len(BUILT_IN_PROMPTS) + 4
    assert main([*argv, "-o", str(tmp_path / "only"), "--no-built-in"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert list(only["category_coverage"]) == ["calibration"]


def test_every_category_weighs_the_same_and_probability_ranks_what_was_not_said():
    calibration = Calibration(
        "generated",
        torch.tensor([0, 0, 0, 0, 9, 9]),
        {"en": torch.tensor([90, 10, 0, 0, 0, 0]), "zh": torch.tensor([0, 0, 2, 0, 0, 0])},
        {"en": torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0, 5.0]), "zh": torch.tensor([0.0, 0.0, 0.0, 3.0, 0.0, 0.0])},
        2,
        0.0,
    )
    produced = torch.tensor([1.0, 1, 1, 1, 1, 0])
    assert ranked(calibration.keys(produced)).tolist()[:4] == [2, 0, 1, 3]  # zh's one token first, then en's; 3: said by neither
    kept = choose(calibration.keys(produced), 3, always=[]).target_ids
    assert calibration.category_coverage(kept) == {"en": 1.0, "zh": 1.0} and calibration.coverage(kept) == {"text": 0.0, "generated": 1.0}


def test_tokens_no_text_produces_come_last(pair, tmp_path, capsys):
    target, drafter, calibration = pair
    tokenizer = AutoTokenizer.from_pretrained(target)
    special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    end = AutoModelForCausalLM.from_pretrained(target).generation_config.eos_token_id
    keep = 400 - len(special - {end})
    assert main(["draft-vocab", str(drafter), "--target", str(target), "--calibration", str(calibration), "--keep", str(keep), "-o", str(tmp_path / "hot"), "--source", "text"]) == 0
    assert set(range(400)) - set(read_draft_vocab(tmp_path / "hot").target_ids.tolist()) == special - {end}


def test_bench_draft_with_a_hot_drafter_is_lossless_and_reports_costs(pair, tmp_path, capsys):
    target, drafter, calibration = pair
    assert main(["draft-vocab", str(drafter), "--target", str(target), "--calibration", str(calibration), "--keep", "32", "48", "-o", str(tmp_path / "hot-{keep}"), "--source", "text"]) == 0
    assert [r["keep"] for r in json.loads(capsys.readouterr().out)] == [32, 48] and len(read_draft_vocab(tmp_path / "hot-48")) == 48
    hot = tmp_path / "hot-32"
    assert isinstance(load_drafter(str(hot)).module.get_output_embeddings(), HotHead)
    capsys.readouterr()
    argv = ["bench-draft", "--target", str(target), "--drafter", str(drafter), str(hot), "--max-new-tokens", "10", "--draft-tokens", "3", "--confidence-threshold", "0", "--json"]
    assert main(argv) == 0
    modes = json.loads(capsys.readouterr().out)
    assert list(modes) == ["target", f"drafter:{drafter}", f"drafter:{hot}"]
    old_keys = {"mode", "new_tokens", "target_calls", "tokens_per_target_call", "seconds", "tokens_per_second", "identical_to_target"}
    assert all(old_keys <= set(m) for m in modes.values())
    assert all(list(m["categories"]) == categories(BUILT_IN_PROMPTS) and m["errors"] == [] and m["prompts"] == len(BUILT_IN_PROMPTS) for m in modes.values())
    full, trimmed = modes[f"drafter:{drafter}"], modes[f"drafter:{hot}"]
    assert full["head_rows"] == 400 and trimmed["head_rows"] == 32
    for mode in (full, trimmed):
        assert mode["identical_to_target"] and mode["drafted_per_call"] <= 3 and 0 <= mode["acceptance"] <= 1
        assert mode["cost_ratio"] > 0 and mode["projected_speedup_100x"] >= mode["projected_speedup_10x"]
    recorded = json.loads((hot / "tokswap_report.json").read_text())["measured"]["bench_draft"]
    assert [m["mode"] for m in recorded["modes"]] == ["target", f"drafter:{hot}"] and recorded["draft_tokens"] == 3
    assert "| chinese | 1.00 |" in (hot / "README.md").read_text()


def test_the_built_in_prompts_are_varied():
    assert len(BUILT_IN_PROMPTS) >= 24 and len(set(BUILT_IN_PROMPTS)) == len(BUILT_IN_PROMPTS)
    wanted = {"question", "explanation", "story", "list", "math", "email", "code", "german", "french", "spanish", "chinese", "japanese"}
    assert set(categories(BUILT_IN_PROMPTS)) == wanted


def test_bench_draft_interleaves_modes_and_goes_on_past_a_failure(pair, tmp_path, monkeypatch):
    """Each prompt runs every mode, the order rotated per prompt; a mode that raises on a prompt is failed there
    (transformers' UAG does on many non-English prompts) and the other prompts and modes still run."""
    target, drafter, _ = pair
    assisted = GenerationMixin._assisted_decoding

    def fails_on_long_prompts(self, input_ids, *args, **kwargs):
        if input_ids.shape[1] > 3:
            raise RuntimeError("cannot reshape tensor of 0 elements\nmore detail")
        return assisted(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "_assisted_decoding", fails_on_long_prompts)
    prompts = [Prompt("short", "The"), Prompt("long", "The quick brown fox jumps"), Prompt("short", "def")]
    seen = []
    report = bench_draft(str(target), [str(drafter)], prompts=prompts, max_new_tokens=6, progress=seen.append)
    assert [(r.prompt, r.mode) for r in seen] == [(0, "target"), (0, "drafter"), (1, "drafter"), (1, "target"), (2, "target"), (2, "drafter")]
    alone, assisted_mode = report.modes
    assert (alone.prompts, alone.failed, assisted_mode.prompts, assisted_mode.failed) == (3, 0, 2, 1)
    assert [(f.mode, f.prompt, f.category, f.error) for f in report.failures] == [("drafter", 1, "long", "cannot reshape tensor of 0 elements")]
    assert [r.failed for r in report.categories["long"]] == [0, 1] and report.categories["long"][1].tokens_per_target_call is None
    assert assisted_mode.identical_to_target and assisted_mode.new_tokens == 12
    table = format_report(report)
    assert "failed: drafter on prompt 1 (long): cannot reshape tensor of 0 elements" in table and "long" in table


def test_bench_draft_samples_at_a_temperature_and_does_not_claim_identical_output(pair, tmp_path, capsys):
    target, drafter, _ = pair
    prompts = tmp_path / "english.txt"
    prompts.write_text("The quick brown\ndef f(x):\n")
    argv = ["bench-draft", "--target", str(target), "--drafter", str(drafter), "--prompts", str(prompts), "--max-new-tokens", "8", "--temperature", "0.8", "--draft-tokens", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "speculative sampling" in out and "Universal Speculative Decoding" in out and " n/a" in out
    assert main([*argv, "--json"]) == 0
    modes = json.loads(capsys.readouterr().out)
    assert all(m["identical_to_target"] is None for m in modes.values()) and list(modes["drafter"]["categories"]) == ["english"]
    assert 0 <= modes["drafter"]["acceptance"] <= 1 and modes["drafter"]["drafted_tokens"] > 0
    again = bench_draft(str(target), [str(drafter)], prompts=file_prompts([prompts]), max_new_tokens=8, settings=DraftSettings(temperature=0.8, draft_tokens=2))
    assert [(m.new_tokens, m.target_calls, m.drafted_tokens) for m in again.modes] == [(m["new_tokens"], m["target_calls"], m["drafted_tokens"]) for m in modes.values()]  # seeded


def test_leviathan_projection_from_measured_figures():
    result = ModeResult("drafter", 30, 10, 3.0, True, 2.0, drafted_tokens=40, drafter_seconds=0.4, head_rows=8, target_step_seconds=0.1)
    assert result.mean_accepted == 2.0 and result.acceptance == pytest.approx(0.5)
    assert result.cost_ratio == pytest.approx(0.1)  # 10 ms per drafted token over a 100 ms target step
    assert result.projected_speedup(10) == pytest.approx(3 / (4 * 0.01 + 1))
    assert ModeResult("target", 10, 10, 1.0, True, 1.0).projected_speedup(10) is None


def test_a_damaged_draft_vocabulary_is_one_line(pair, tmp_path):
    _, drafter, _ = pair
    broken = tmp_path / "broken"
    broken.mkdir()
    save_file({"d2t": torch.tensor([3, 0])}, broken / DRAFT_VOCAB_FILE)
    with pytest.raises(TokswapError, match="is not a draft vocabulary"):
        read_draft_vocab(broken)



def test_calibration_reads_every_file_even_two_with_one_name(tmp_path):
    for folder in ("train", "more"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "en.txt").write_text(f"{folder} text")
    paths = text_paths([str(tmp_path / "train"), str(tmp_path / "more")])
    assert [p.parent.name for p in paths] == ["train", "more"]
    assert list(text_files([str(tmp_path / "train"), str(tmp_path / "more")])) == ["en"]  # eval's domains
