"""`tokswap drafter` on tiny Llamas, and the requests its training answers: every stage run once, the folder
it publishes, a resumed run, and the built-in bank."""

import copy
import json
import random

import pytest
from builders import tiny_llama

from tokswap.recipes.drafter import STAGES, STAGES_DIR, drafter, held_out_prompts, training_minutes
from tokswap.recipes.drafter_options import DrafterOptions
from tokswap.drafting.prompts import BUILT_IN_PROMPTS, Prompt, categories
from tokswap.heal.requests import draw_request, rendered
from tokswap.report import REPORT_FILE


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))


def test_the_bank_spans_every_kind_and_holds_no_built_in_prompt():
    rng = random.Random(0)
    requests = [draw_request(rng) for _ in range(2000)]
    built_in = {p.text.strip() for p in BUILT_IN_PROMPTS}
    assert not {r.text.strip() for r in requests} & built_in
    assert {r.category for r in requests} == {"english", "code", "math", "language"}
    assert len({r.language for r in requests if r.category == "language"}) >= 25
    assert len({r.text for r in requests}) > 1000  # few repeats: a drafter trained on a few prompts learns only them


def test_a_request_goes_through_the_chat_template_when_there_is_one(spm_tok):
    assert rendered(spm_tok, "Explain tides.\n") == "Explain tides.\n"
    chatty = copy.deepcopy(spm_tok)
    chatty.chat_template = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}<assistant>"
    assert rendered(chatty, "Explain tides.\n") == "<user>Explain tides.</user><assistant>"


def test_held_out_prompts_are_one_per_category_none_of_them_given():
    held = held_out_prompts([])
    assert [p.category for p in held] == categories(BUILT_IN_PROMPTS)
    given = [Prompt("mine", held[0].text)]
    assert held_out_prompts(given)[0] != held[0] and held_out_prompts(given)[0].category == held[0].category


def test_training_gets_what_measuring_exporting_and_the_transplant_leave():
    """Baselines of 4 minutes, 1.5 of them UAG's: the final measurement is expected to take 2.5."""
    assert training_minutes(30, 0.5 + 4, 4, 90, tail=False) == 23
    assert training_minutes(30, 4.5, 4, 90, tail=True) == pytest.approx(23 - 0.04 * 30)
    assert training_minutes(5, 4.5, 4, 90, tail=False) == 0.5  # measuring alone overruns: the minimum


def test_one_command_builds_measures_and_publishes_a_drafter_and_resumes(tmp_path, spm_tok, bpe_tok, monkeypatch):
    """The source on a SentencePiece vocabulary becomes a drafter for a byte-level BPE target: transplanted,
    trained on the target's answers to requests (no corpus), with its hot vocabulary and GGUF, measured on the
    held-out built-in prompts; interrupted in training, the same call resumes there and publishes once."""
    from tokswap.heal import train

    source = tiny_llama(tmp_path / "source", spm_tok)
    target = tiny_llama(tmp_path / "target", bpe_tok, seed=3)
    out = tmp_path / "drafter"
    options = DrafterOptions(minutes=0.25, hot_vocab=60, gguf="f16", measure_tokens=6, draft_tokens=3)
    healing = train.heal
    monkeypatch.setattr(train, "heal", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        drafter(str(target), str(source), out, options)
    assert [p.name for p in out.iterdir()] == [STAGES_DIR]  # resumable, no half-written model
    monkeypatch.setattr(train, "heal", healing)
    report = drafter(str(target), str(source), out, options)
    assert not (out / STAGES_DIR).exists()
    assert {"config.json", "model.safetensors", "tokenizer.json", "draft_vocab.safetensors", "README.md", REPORT_FILE, "drafter-f16.gguf"} <= {p.name for p in out.iterdir()}
    assert report.gguf.endswith("drafter-f16.gguf") and set(report.minutes) == set(STAGES)
    saved = json.loads((out / REPORT_FILE).read_text())
    assert saved["heal"]["options"]["requests"] == 1.0 and saved["heal"]["teacher"] == str(target)
    held = saved["drafter"]["held_out"]
    assert list(held) == ["target alone", "drafter", "untrained transplant", "UAG (SOURCE as drafter)"]
    assert held["drafter"]["identical_to_target"] and held["untrained transplant"]["identical_to_target"]
    assert held["drafter"]["prompts"] == len(categories(BUILT_IN_PROMPTS)) and set(held["drafter"]["categories"]) == set(categories(BUILT_IN_PROMPTS))
    written = report.written
    assert written["sequences"] > 0 and written["distinct_prompts"] > 1 and {"english", "code", "math", "language"} >= set(written["kinds"])
    assert "Speculative decoding" in (out / "README.md").read_text()
