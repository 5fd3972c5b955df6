"""Every user error of every command: exit code 2, one line that says what is wrong, and nothing left behind."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from builders import cli_error, tiny_llama, tiny_model
from safetensors.torch import load_file, save_file

from tokswap.gguf.export import export_gguf
from tokswap.pipeline import transplant
from tokswap.training.loop import TRAINER_FILE


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # "{x}" names a path of the `world` fixture
    says: str


@pytest.fixture(scope="module")
def world(tmp_path_factory, tied_model, spm_folder, bpe_folder, spm_tok) -> dict[str, Path]:
    """Good and broken inputs, built once: each case names the ones it uses."""
    root = tmp_path_factory.mktemp("world")
    paths = {"model": tied_model, "spm": spm_folder, "bpe": bpe_folder, "out": root / "out", "missing": root / "missing"}

    def broken_copy(name: str, damage) -> None:
        folder = root / name
        shutil.copytree(tied_model, folder)
        weights = folder / "model.safetensors"
        weights.write_bytes(damage(weights.read_bytes()))
        paths[name] = folder

    broken_copy("garbage", lambda data: b"\x93\x11 not a safetensors file at all")
    broken_copy("cut", lambda data: data[: len(data) // 2])
    broken_copy("huge_header", lambda data: (10**12).to_bytes(8, "little") + data[8:])
    paths["not_gguf"] = root / "noise.gguf"
    paths["not_gguf"].write_bytes(b"\x00" * 64)
    paths["cut_gguf"] = _cut_gguf(root / "cut.gguf")
    for name, content in {"empty.txt": b"", "binary.txt": b"\xff\xfe\x00\x81 binary", "blank_prompts.txt": b"\n \n", "nul.txt": b"text\x00more"}.items():
        (root / name).write_bytes(content)
        paths[name.removesuffix(".txt")] = root / name
    (root / "text").mkdir()
    (root / "text" / "en.txt").write_text("Plain English text for training and scoring. " * 20)
    paths["text"] = root / "text"
    (root / "notext").mkdir()
    paths["notext"] = root / "notext"
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("a user's file")
    paths["full"] = root / "full"
    paths["inp"] = root / "only.gguf.inp"
    paths["inp"].write_text("hello\n__ggml_vocab_test__\n")
    paths["spm_model"] = tiny_llama(root / "spm_model", spm_tok)
    paths["unsupported"] = _with_config(tied_model, root / "unsupported", architectures=["Qwen3MoeForCausalLM"])
    paths["yarn"] = _with_config(tied_model, root / "yarn", rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0})
    paths["gemma_scaled"] = _with_config(tiny_model(root / "gemma", spm_tok, "gemma3"), root / "gemma_scaled", query_pre_attn_scalar=16)
    paths["drafter_gguf"] = root / "drafter.gguf"
    export_gguf(str(tied_model), paths["drafter_gguf"], kind="f32")
    paths["gguf_out"] = root / "new.gguf"
    paths["transplanted"] = root / "transplanted"
    transplant(str(tied_model), str(spm_folder), paths["transplanted"])
    paths["bad_hot"] = root / "bad_hot"
    shutil.copytree(tied_model, paths["bad_hot"])
    save_file({"d2t": torch.tensor([4, 0])}, paths["bad_hot"] / "draft_vocab.safetensors")
    paths["transplanted_copy"] = root / "transplanted_copy"
    shutil.copytree(paths["transplanted"], paths["transplanted_copy"])
    _heal_runs(root, paths)
    return paths


def _heal_runs(root: Path, paths: dict[str, Path]) -> None:
    """A heal run to resume, and copies of it with a damaged trainer.json and a damaged state."""
    from tokswap.heal.options import HealOptions
    from tokswap.heal.train import heal

    paths["run"] = root / "run"
    heal(str(paths["transplanted"]), [str(paths["text"])], paths["run"], HealOptions(steps=1))
    for name in ("bad_trainer", "bad_state"):
        paths[name] = root / name
        shutil.copytree(paths["run"], paths[name])
    (paths["bad_trainer"] / ".resume" / "trainer.json").write_text('{"step": "one"')
    for state in (paths["bad_state"] / ".resume" / "state").iterdir():
        state.write_bytes(state.read_bytes()[:40])


def _with_config(model: Path, folder: Path, **changes) -> Path:
    """A copy of `model` whose config.json says something llama.cpp's graph for it does not compute."""
    shutil.copytree(model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    return folder


def _cut_gguf(path: Path) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(200)])
    writer.add_tensor("token_embd.weight", torch.zeros(200, 8).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 8])
    return path


T = ("transplant", "{model}", "--tokenizer", "{spm}", "-o", "{out}")
H = ("draft-vocab", "{model}", "--target", "{model}", "--calibration", "{text}", "--keep")
CASES = [
    Case("transplant: missing model", ("transplant", "{missing}", "--tokenizer", "{spm}", "-o", "{out}"), "no such file or folder"),
    Case("transplant: alias typo", ("transplant", "smollm2-136m", "--tokenizer", "{spm}", "-o", "{out}"), "did you mean smollm2-135m?"),
    Case("transplant: llama.cpp vocabulary not read faithfully", (*T[:3], "llamacpp:mpt", "-o", "{out}"), "not a llama.cpp vocabulary tokswap reads faithfully"),
    Case("transplant: garbage weights", ("transplant", "{garbage}", "--tokenizer", "{spm}", "-o", "{out}"), "damaged safetensors file"),
    Case("transplant: truncated weights", ("transplant", "{cut}", "--tokenizer", "{spm}", "-o", "{out}"), "truncated safetensors file"),
    Case("transplant: header larger than file", ("transplant", "{huge_header}", "--tokenizer", "{spm}", "-o", "{out}"), "its header claims"),
    Case("transplant: not a GGUF", ("transplant", "{not_gguf}", "--tokenizer", "{spm}", "-o", "{out}"), "not a GGUF file"),
    Case("transplant: truncated GGUF", ("transplant", "{cut_gguf}", "--tokenizer", "{spm}", "-o", "{out}"), "damaged GGUF file"),
    Case("transplant: tokenizer only as source", ("transplant", "{spm}", "--tokenizer", "{spm}", "-o", "{out}"), "no model weights"),
    Case("transplant: donor for a method without one", (*T, "--donor", "{model}"), "does not use a donor"),
    Case("transplant: omp without a donor", (*T, "--method", "omp"), "needs --donor"),
    Case("transplant: bad method option", (*T, "--method", "omp", "--k", "0"), "k >= 1"),
    Case("transplant: output not empty", ("transplant", "{model}", "--tokenizer", "{spm}", "-o", "{full}"), "not empty"),
    Case("eval: missing data", ("eval", "{model}", "--data", "{missing}"), "no such file or folder"),
    Case("eval: empty text", ("eval", "{model}", "--data", "{empty}"), "is empty"),
    Case("eval: binary text", ("eval", "{model}", "--data", "{binary}"), "is not UTF-8 text"),
    Case("eval: folder without text", ("eval", "{model}", "--data", "{notext}"), "has no .txt files"),
    Case("eval: window too small", ("eval", "{model}", "--data", "{text}", "--window", "1"), "--window must be at least 2"),
    Case("eval: damaged model", ("eval", "{garbage}", "--data", "{text}"), "damaged safetensors file"),
    Case("verify: not a model folder", ("verify", "{spm}", "--target", "{spm}"), "not a model folder"),
    Case("verify: golden without .out", ("verify", "{model}", "--target", "{bpe}", "--golden", "{inp}"), "golden vectors need both"),
    Case("verify: target alias typo", ("verify", "{model}", "--target", "gemma-3-27m"), "did you mean gemma-3-270m?"),
    Case("bench-draft: missing prompts", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--prompts", "{missing}"), "no such file"),
    Case("bench-draft: no prompts", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--prompts", "{blank_prompts}"), "is empty"),
    Case("bench-draft: binary prompts", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--prompts", "{binary}"), "is not UTF-8 text"),
    Case("bench-draft: no tokens to draft", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--max-new-tokens", "0"), ">= 1"),
    Case("bench-draft: damaged drafter", ("bench-draft", "--target", "{model}", "--drafter", "{cut}"), "truncated safetensors file"),
    Case("bench-draft: no draft tokens", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--draft-tokens", "0"), "--draft-tokens must be >= 1"),
    Case("bench-draft: confidence out of range", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--confidence-threshold", "1.5"), "must be in [0, 1)"),
    Case("bench-draft: damaged draft vocabulary", ("bench-draft", "--target", "{model}", "--drafter", "{bad_hot}"), "is not a draft vocabulary"),
    Case("bench-draft: negative temperature", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--temperature", "-0.5"), "--temperature must be a number >= 0"),
    Case("bench-draft: one prompt file missing", ("bench-draft", "--target", "{model}", "--drafter", "{model}", "--prompts", "{nul}", "{missing}"), "missing: no such file"),
    Case("draft-vocab: keep nothing", (*H, "0", "-o", "{out}"), "--keep must be between 1"),
    Case("draft-vocab: keep more than the vocabulary", (*H, "401", "-o", "{out}"), "and 400 (its vocabulary)"),
    Case("draft-vocab: empty calibration", ("draft-vocab", "{model}", "--target", "{model}", "--calibration", "{empty}", "--keep", "8", "-o", "{out}"), "is empty"),
    Case("draft-vocab: binary calibration", ("draft-vocab", "{model}", "--target", "{model}", "--calibration", "{binary}", "--keep", "8", "-o", "{out}"), "is not UTF-8 text"),
    Case("draft-vocab: calibration with NUL bytes", ("draft-vocab", "{model}", "--target", "{model}", "--calibration", "{nul}", "--keep", "8", "-o", "{out}"), "NUL bytes"),
    Case("draft-vocab: target with another vocabulary", ("draft-vocab", "{model}", "--target", "{spm_model}", "--calibration", "{text}", "--keep", "8", "-o", "{out}"), "does not share the target's vocabulary"),
    Case("draft-vocab: not a folder", ("draft-vocab", "{drafter_gguf}", "--target", "{model}", "--calibration", "{text}", "--keep", "8", "-o", "{out}"), "is not a model folder"),
    Case("draft-vocab: output not empty", (*H, "8", "-o", "{full}"), "not empty"),
    Case("draft-vocab: several N, one folder", (*H, "8", "16", "-o", "{out}"), "need an output name with {keep}"),
    Case("draft-vocab: no prompts", (*H, "8", "-o", "{out}", "--prompts", "0"), "--prompts must be >= 1"),
    Case("draft-vocab: text ranking without text", ("draft-vocab", "{model}", "--target", "{model}", "--keep", "8", "-o", "{out}", "--source", "text"), "--source text ranks by the calibration text"),
    Case("draft-vocab: nothing to calibrate on", ("draft-vocab", "{model}", "--target", "{model}", "--keep", "8", "-o", "{out}", "--no-built-in"), "leaves nothing to calibrate on"),
    Case("hypernet train: no text", ("hypernet", "train", "{model}", "--data", "{notext}", "--steps", "1", "-o", "{out}"), "no .txt files"),
    Case("hypernet train: no steps", ("hypernet", "train", "{model}", "--data", "{text}", "--steps", "0", "-o", "{out}"), "steps"),
    Case("hypernet train: damaged model", ("hypernet", "train", "{garbage}", "--data", "{text}", "--steps", "1", "-o", "{out}"), "damaged safetensors file"),
    Case("heal: teacher with another vocabulary", ("heal", "{transplanted}", "--data", "{text}", "--teacher", "{model}", "--steps", "1", "-o", "{out}"), "does not have MODEL's vocabulary"),
    Case("heal: source teacher without a report", ("heal", "{model}", "--data", "{text}", "--steps", "1", "-o", "{out}"), "--teacher source needs a tokswap transplant folder"),
    Case("heal: new rows of a model that is not a transplant", ("heal", "{model}", "--data", "{text}", "--teacher", "{model}", "--train", "new", "--steps", "1", "-o", "{out}"), "--train new needs"),
    Case("heal: empty data", ("heal", "{transplanted}", "--data", "{empty}", "--steps", "1", "-o", "{out}"), "is empty"),
    Case("heal: binary data", ("heal", "{transplanted}", "--data", "{binary}", "--steps", "1", "-o", "{out}"), "is not UTF-8 text"),
    Case("heal: no budget", ("heal", "{transplanted}", "--data", "{text}", "--steps", "0", "-o", "{out}"), "must be positive"),
    Case("heal: output not empty", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "-o", "{full}"), "is not empty and holds no heal run"),
    Case("heal: teacher continuations from the source", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "--generated", "0.5", "-o", "{out}"), "--generated, --on-policy, --mismatch-weight, --requests and --prompts need a model teacher"),
    Case("heal: own continuations from the source", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "--on-policy", "0.5", "-o", "{out}"), "need a model teacher"),
    Case("heal: share of continuations above 1", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "--generated", "2", "-o", "{out}"), "--generated and --on-policy must be between 0 and 1"),
    Case("heal: continuations past the batch", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "--generated", "0.6", "--on-policy", "0.6", "-o", "{out}"), "together at most 1"),
    Case("heal: negative mismatch weight", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "--mismatch-weight", "-1", "-o", "{out}"), "--mismatch-weight must be >= 0"),
    Case("heal: output is a file", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "-o", "{inp}"), "is a file; -o names the folder"),
    Case("heal: resume with another model", ("heal", "{transplanted_copy}", "--data", "{text}", "--steps", "2", "-o", "{run}"), "holds a run for"),
    Case("heal: damaged trainer.json", ("heal", "{transplanted}", "--data", "{text}", "--steps", "2", "-o", "{bad_trainer}"), "trainer.json is damaged"),
    Case("heal: damaged resume state", ("heal", "{transplanted}", "--data", "{text}", "--steps", "2", "-o", "{bad_state}"), "is missing or not the size it was saved with"),
    Case("heal: toward the source without data", ("heal", "{transplanted}", "--steps", "1", "-o", "{out}"), "heal toward the source needs --data"),
    Case("heal: requests for the source", ("heal", "{transplanted}", "--data", "{text}", "--prompts", "{inp}", "--steps", "1", "-o", "{out}"), "need a model teacher"),
    Case("heal: some windows of data without data", ("heal", "{transplanted}", "--teacher", "{spm_model}", "--requests", "0.5", "--steps", "1", "-o", "{out}"), "--requests must be 1"),
    Case("heal: a share of requests above 1", ("heal", "{transplanted}", "--teacher", "{spm_model}", "--requests", "2", "--steps", "1", "-o", "{out}"), "--requests must be between 0 and 1"),
    Case("drafter: no budget", ("drafter", "{spm_model}", "--from", "{model}", "--minutes", "0", "-o", "{out}"), "--minutes must be positive"),
    Case("drafter: source does not load", ("drafter", "{spm_model}", "--from", "{garbage}", "-o", "{out}"), "garbage"),
    Case("drafter: target without a model", ("drafter", "{spm}", "--from", "{model}", "-o", "{out}"), "no model weights"),
    Case("drafter: missing target", ("drafter", "{missing}", "--from", "{model}", "-o", "{out}"), "missing"),
    Case("drafter: output is a file", ("drafter", "{spm_model}", "--from", "{model}", "-o", "{inp}"), "exists and is not a folder"),
    Case("drafter: output not empty", ("drafter", "{spm_model}", "--from", "{model}", "-o", "{full}"), "is not empty; pass --force"),
    Case("drafter: unknown method", ("drafter", "{spm_model}", "--from", "{model}", "--method", "magic", "-o", "{out}"), "unknown method 'magic'"),
    Case("drafter: blank prompts", ("drafter", "{spm_model}", "--from", "{model}", "--prompts", "{blank_prompts}", "-o", "{out}"), "is empty"),
    Case("drafter: GGUF of a vocabulary tokswap cannot write", ("drafter", "{spm_model}", "--from", "{model}", "--gguf", "f16", "-o", "{out}"), "byte-level BPE tokenizers only"),
    Case("export-gguf: architecture llama.cpp is not given", ("export-gguf", "{unsupported}", "-o", "{gguf_out}"), "exports GGUF for LlamaForCausalLM, MistralForCausalLM"),
    Case("export-gguf: rope scaling llama.cpp is not given", ("export-gguf", "{yarn}", "-o", "{gguf_out}"), "rope scaling 'yarn' is not written for llama.cpp's llama"),
    Case("export-gguf: Gemma-3 queries scaled otherwise", ("export-gguf", "{gemma_scaled}", "-o", "{gguf_out}"), "query_pre_attn_scalar 16 is not head_dim 8"),
    Case("export-gguf: SentencePiece tokenizer without a GGUF", ("export-gguf", "{spm_model}", "-o", "{gguf_out}"), "export-gguf --vocab-from"),
    Case("export-gguf: vocabulary source differs", ("export-gguf", "{model}", "-o", "{gguf_out}", "--vocab-from", "{spm}"), "does not have the vocabulary"),
    Case("export-gguf: file exists", ("export-gguf", "{model}", "-o", "{drafter_gguf}"), "exists; pass --force"),
    Case("export-gguf: not a .gguf name", ("export-gguf", "{model}", "-o", "{out}"), "must end in .gguf"),
    Case("export-gguf: tokenizer only", ("export-gguf", "{spm}", "-o", "{gguf_out}"), "no model weights"),
    Case("transplant: --gguf file exists", (*T, "--gguf", "{drafter_gguf}"), "exists; pass --force"),
    Case("transplant: --gguf for a vocabulary tokswap cannot write", (*T, "--gguf", "{gguf_out}"), "byte-level BPE tokenizers only"),
    Case("transplant: --gguf for a model llama.cpp would not run", ("transplant", "{yarn}", "--tokenizer", "{bpe}", "-o", "{out}", "--gguf", "{gguf_out}"), "cannot be exported for llama.cpp: rope scaling 'yarn'"),
    Case("verify: GGUF against a folder", ("verify", "{drafter_gguf}", "--target", "{model}"), "compares two GGUF files"),
    Case("cache clear: unknown entry", ("cache", "clear", "no/such-entry"), "no cache entry named"),
    Case("cache clear: negative age", ("cache", "clear", "--older-than", "-1"), "--older-than must be"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_user_error(case, world, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    before = sorted(p.name for p in world["out"].parent.iterdir())
    err = cli_error(capsys, *(arg.format(**world) for arg in case.argv))
    assert case.says in err
    print(f"{case.name} | 2 | {err}")  # `pytest tests/unit/test_bad_input.py -rP` prints the matrix
    assert sorted(p.name for p in world["out"].parent.iterdir()) == before  # no output, no staging folder
    assert [p.name for p in world["full"].iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("raised", [OSError(28, "No space left on device"), RuntimeError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })')])
def test_a_full_disk_is_one_line_and_nothing_published(raised, world, capsys, tmp_path, monkeypatch):
    """OSError from Python's own writes, safetensors' error type (a plain message) from its writer. The model
    has loaded by then, so its progress bar is on stderr before the line."""
    from tokswap.cli import main

    def full(*args, **kwargs):
        raise raised

    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("tokswap.pipeline.write_checkpoint", full)
    before = sorted(p.name for p in world["out"].parent.iterdir())
    capsys.readouterr()
    assert main(["transplant", str(world["model"]), "--tokenizer", str(world["spm"]), "-o", str(world["out"])]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.splitlines()[-1].startswith("tokswap: error: no space left on the device")
    assert sorted(p.name for p in world["out"].parent.iterdir()) == before


NUMPY_FULL = OSError("Not enough free space to write 603979776 bytes")  # numpy's tofile, under gguf's writer: no errno
WRITERS = {
    "export-gguf": ("tokswap.gguf.export.write_gguf", ("export-gguf", "{model}", "-o", "{gguf_out}")),
    "draft-vocab": ("tokswap.drafting.draft_vocab.save_draft_vocab", ("draft-vocab", "{model}", "--target", "{model}", "--keep", "40", "--no-built-in", "--calibration", "{text}", "--prompts", "2", "-o", "{out}")),
    "heal": ("tokswap.heal.train.Healer.save_weights", ("heal", "{transplanted}", "--data", "{text}", "--steps", "1", "-o", "{out}")),
}


@pytest.mark.parametrize("command", list(WRITERS))
def test_every_writing_command_says_a_full_disk_in_one_line(command, world, capsys, tmp_path, monkeypatch):
    from tokswap.cli import main

    def full(*args, **kwargs):
        raise NUMPY_FULL

    target, argv = WRITERS[command]
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(target, full)
    capsys.readouterr()
    assert main([arg.format(**world) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.splitlines()[-1].startswith("tokswap: error: no space left on the device")
    assert not world["gguf_out"].exists() and not (world["out"] / "model.safetensors").exists() and not (world["out"] / "draft_vocab.safetensors").exists()
    shutil.rmtree(world["out"], ignore_errors=True)  # a heal keeps its run to resume


def test_a_full_disk_at_a_checkpoint_keeps_the_last_one_whole(world, capsys, tmp_path, monkeypatch):
    """The weights go to a staging folder inside OUT and replace the last checkpoint's only when whole."""
    from tokswap.cli import main
    from tokswap.heal.train import Healer

    saved = Healer.save_weights
    calls = []

    def second_fills_the_disk(self, folder):
        calls.append(folder)
        if len(calls) == 1:
            return saved(self, folder)
        (folder / "model.safetensors").write_bytes(b"half a file")
        raise NUMPY_FULL

    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Healer, "save_weights", second_fills_the_disk)
    out = tmp_path / "healed"
    argv = ["heal", str(world["transplanted"]), "--data", str(world["text"]), "--steps", "2", "--save-every", "1", "-o", str(out)]
    assert main(argv) == 2
    assert "tokswap: error: no space left on the device" in capsys.readouterr().err.splitlines()[-1]  # after the progress bar
    assert len(calls) == 2 and all(folder.parent == out for folder in calls)
    assert json.loads((out / TRAINER_FILE).read_text())["step"] == 1 and not list(out.glob(".files.tmp-*"))
    assert load_file(out / "model.safetensors")  # the first checkpoint's, whole
    monkeypatch.setattr(Healer, "save_weights", saved)
    assert main(argv) == 0 and json.loads((out / TRAINER_FILE).read_text())["step"] == 2
