import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from builders import cli_error, tiny_llama
from safetensors.torch import save_file

from tokswap.cache import MANIFEST, cache_dir, cache_entries, cached_folder, cached_tensors, describe_cache, stored_tensors
from tokswap.cli import main
from tokswap.errors import TokswapError


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of its own: these tests list and clear everything in it."""
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _builder(calls: list, payload: bytes = b"weights"):
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "blob.bin").write_bytes(payload)
        save_file({"w": torch.arange(6.0).reshape(2, 3)}, folder / "w.safetensors")

    return build


def test_an_entry_is_built_once_with_a_manifest(own_cache):
    calls = []
    first = cached_folder(cache_dir("demo") / "entry", "a demo entry", _builder(calls))
    again = cached_folder(cache_dir("demo") / "entry", "a demo entry", _builder(calls))
    manifest = json.loads((first / MANIFEST).read_text())
    assert first == again and len(calls) == 1
    assert manifest["what"] == "a demo entry" and set(manifest["files"]) == {"blob.bin", "w.safetensors"}


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda e: (e / "blob.bin").write_bytes(b"weightz"), "blob.bin does not match its checksum"),
        (lambda e: (e / "blob.bin").write_bytes(b"weight"), "blob.bin has 6 bytes, 7 were written"),
        (lambda e: (e / "w.safetensors").unlink(), "w.safetensors is missing"),
        (lambda e: (e / MANIFEST).unlink(), "no readable manifest"),
    ],
)
def test_a_damaged_entry_is_rebuilt_with_one_line(own_cache, capsys, damage, says):
    calls = []
    entry = cached_folder(cache_dir("demo") / "entry", "a demo entry", _builder(calls))
    damage(entry)
    capsys.readouterr()
    assert cached_folder(entry, "a demo entry", _builder(calls)) == entry
    err = capsys.readouterr().err
    assert len(calls) == 2 and err.count("\n") == 1 and says in err and "rebuilding it" in err and str(entry) in err
    assert (entry / "blob.bin").read_bytes() == b"weights"


def test_a_large_file_is_checked_by_size_and_header(own_cache, capsys, monkeypatch):
    monkeypatch.setattr("tokswap.cache.HASHED_BELOW", 0)  # nothing hashed: size and header only
    calls = []
    entry = cached_folder(cache_dir("demo") / "entry", "a demo entry", _builder(calls))
    data = bytearray((entry / "w.safetensors").read_bytes())
    data[8:12] = b"\xff\xff\xff\xff"  # same size, header overwritten
    (entry / "w.safetensors").write_bytes(bytes(data))
    cached_folder(entry, "a demo entry", _builder(calls))
    assert len(calls) == 2 and "damaged safetensors file" in capsys.readouterr().err


def test_a_damaged_entry_whose_source_is_gone_names_the_entry(own_cache):
    entry = cached_folder(cache_dir("demo") / "entry", "a demo entry", _builder([]))
    (entry / "blob.bin").write_bytes(b"")

    def unreachable(folder):
        raise TokswapError("could not fetch it from PyPI: offline")

    with pytest.raises(TokswapError, match=r"rebuilding the damaged cache entry .*entry \(a demo entry\) failed: could not fetch"):
        cached_folder(entry, "a demo entry", unreachable)
    assert not entry.exists()


def test_cached_tensors_round_trip(own_cache):
    computed = cached_tensors("demo", "key", "tensors", lambda: {"x": torch.ones(3)})
    again = cached_tensors("demo", "key", "tensors", lambda: pytest.fail("recomputed"))
    assert torch.equal(again["x"], computed["x"])


RACE = """
import sys, time
from pathlib import Path
from tokswap.cache import cached_folder

def build(folder):
    time.sleep(1.0)
    (folder / "pid.txt").write_text(sys.argv[1])

entry = cached_folder(Path(sys.argv[2]), "raced entry", build)
print((entry / "pid.txt").read_text())
"""


def test_two_processes_filling_one_entry_both_succeed(own_cache):
    final = cache_dir("race") / "entry"
    env = {**os.environ, "TOKSWAP_CACHE": str(own_cache)}
    runs = [subprocess.Popen([sys.executable, "-c", RACE, str(i), str(final)], stdout=subprocess.PIPE, text=True, env=env) for i in (1, 2)]
    outputs = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1] == (final / "pid.txt").read_text()
    assert sorted(p.name for p in final.parent.iterdir()) == ["entry"]


def test_cache_command_lists_and_clears(own_cache, capsys):
    for name in ("old", "new"):
        cached_folder(cache_dir("demo") / name, f"the {name} entry", _builder([]))
    week_ago = time.time() - 7 * 86400
    os.utime(own_cache / "demo" / "old" / MANIFEST, (week_ago, week_ago))
    (own_cache / "stray.tmp").write_text("left by an interrupted run")
    assert main(["cache"]) == 0
    listing = capsys.readouterr().out
    assert "demo/new" in listing and "the old entry" in listing and "1 other paths" in listing
    assert main(["cache", "clear", "--older-than", "3"]) == 0
    assert not (own_cache / "demo" / "old").exists() and (own_cache / "demo" / "new").is_dir()
    assert "no cache entry named 'demo/nope'" in cli_error(capsys, "cache", "clear", "demo/nope")
    assert main(["cache", "clear", "demo/new"]) == 0 and not (own_cache / "demo" / "new").exists()
    assert main(["cache", "clear", "--all"]) == 0 and not (own_cache / "stray.tmp").exists()


def test_a_bounded_store_is_one_entry_that_keeps_the_recently_used_under_its_limit(own_cache):
    old = cache_dir("store", "an-older-per-result-entry")  # an older tokswap's layout, tidied away
    (old / MANIFEST).write_text("{}")
    calls = []

    def stored(key: str, limit: int = 3_000) -> dict:
        return stored_tensors("store", key, "results", limit, lambda: calls.append(key) or {"x": torch.full((200,), float(len(calls)))})

    first = stored("a")
    assert torch.equal(stored("a")["x"], first["x"]) and calls == ["a"] and not old.exists()
    for key in "bcd":
        time.sleep(0.01)
        stored(key)
    stored("d")
    files = sorted(p.stem for p in (own_cache / "store").glob("*.safetensors"))
    assert len(files) < 4 and "a" not in files and "d" in files  # 1 KB each: the least recently used went
    assert [e.name for e in cache_entries()] == ["store"] and "results" in describe_cache()
    (own_cache / "store" / "d.safetensors").write_bytes(b"cut")
    stored("d")
    assert calls[-1] == "d"  # a damaged result is computed again
    stored("e", limit=0)
    assert not (own_cache / "store" / "e.safetensors").exists()


def test_listing_survives_files_that_vanish_while_it_walks(own_cache, monkeypatch):
    stored_tensors("store", "a", "results", 10_000, lambda: {"x": torch.ones(3)})
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: (_ for _ in ()).throw(FileNotFoundError(self)) if self.suffix == ".safetensors" else real_stat(self, **kw))
    assert "store" in describe_cache()


def test_what_unit_tests_build_is_cached_apart_from_the_users_cache(own_cache, tmp_path, bpe_tok):
    """A tiny GGUF's tokenizer, read once, is an entry of the tests' own cache; the user's gains nothing."""
    from tokswap.cache import cache_root
    from tokswap.gguf.export import export_gguf
    from tokswap.specs import resolve
    from tokswap.tokenizer_io import load_tokenizer

    users = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tokswap"
    before = sorted(users.rglob("tokswap-entry.json")) if users.is_dir() else []
    gguf = tmp_path / "tiny-vocab.gguf"
    export_gguf(str(tiny_llama(tmp_path / "m", bpe_tok)), gguf, kind="f32")
    load_tokenizer(resolve(str(gguf)))
    assert cache_root() == own_cache
    assert any(json.loads(m.read_text())["what"] == "tokenizer of tiny-vocab.gguf" for m in own_cache.glob("gguf/*/tokswap-entry.json"))
    assert (sorted(users.rglob("tokswap-entry.json")) if users.is_dir() else []) == before
