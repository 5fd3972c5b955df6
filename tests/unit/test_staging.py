"""Folders appear whole or not at all."""

import pytest

from tokswap.staging import published_folder


def _leftovers(parent, name):
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.tmp-")]


def test_a_finished_block_publishes_and_a_failed_one_leaves_nothing(tmp_path):
    final = tmp_path / "entry"
    with pytest.raises(RuntimeError):
        with published_folder(final) as staging:
            (staging / "half").write_text("x")
            raise RuntimeError("killed")
    assert not final.exists() and _leftovers(tmp_path, "entry") == []
    with published_folder(final) as staging:
        (staging / "whole").write_text("x")
    assert [p.name for p in final.iterdir()] == ["whole"] and _leftovers(tmp_path, "entry") == []


@pytest.mark.parametrize("replace", [False, True])
def test_an_existing_folder_is_kept_or_replaced(tmp_path, replace):
    final = tmp_path / "entry"
    final.mkdir()
    (final / "first").write_text("x")
    with published_folder(final, replace=replace) as staging:
        (staging / "second").write_text("x")
    assert [p.name for p in final.iterdir()] == (["second"] if replace else ["first"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]
