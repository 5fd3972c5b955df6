import pytest

from tokswap import specs
from tokswap.errors import TokswapError


def test_hub_ids_resolve_to_a_snapshot_folder(monkeypatch, tmp_path):
    seen = {}

    def fake_snapshot(repo_id, allow_patterns):
        seen["repo"] = repo_id
        return str(tmp_path)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    spec = specs.resolve("org/model")
    assert (spec.kind, spec.path, seen["repo"]) == ("folder", tmp_path, "org/model")


@pytest.mark.parametrize(
    "name, tail",
    [("org/model", ""), ("gpt2", "; packaged: smollm2-135m, gemma-3-270m, llamacpp:NAME")],  # a bare name may be a typo
)
def test_unreachable_hub_is_one_clear_error(monkeypatch, name, tail):
    def offline(repo_id, allow_patterns):
        raise ConnectionError("offline\nlong details")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    with pytest.raises(TokswapError, match=rf"cannot fetch '{name}' from the Hugging Face hub: offline{tail}$"):
        specs.resolve(name)


def test_local_kinds(tmp_path):
    (tmp_path / "tok.json").write_text("{}")
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert specs.resolve(str(tmp_path)).kind == "folder"
    assert specs.resolve(str(tmp_path / "tok.json")).kind == "tokenizer_json"
    assert specs.resolve(str(tmp_path / "m.gguf")).kind == "gguf"
    with pytest.raises(TokswapError, match="no such file"):
        specs.resolve(str(tmp_path / "absent.gguf"))


def test_a_near_miss_of_a_packaged_name_never_reaches_the_hub(monkeypatch):
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: pytest.fail("looked up on the hub"))
    with pytest.raises(TokswapError, match=r"'smollm2-136m' is not a packaged model or tokenizer; did you mean smollm2-135m\?"):
        specs.resolve("smollm2-136m")
    with pytest.raises(TokswapError, match=r"did you mean llamacpp:llama-bpe"):
        specs.resolve("llamacpp-llama-bpe")

