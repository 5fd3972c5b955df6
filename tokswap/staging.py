"""Folders that appear whole or not at all: output folders and cache entries alike."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def published_folder(final: Path, replace: bool = False) -> Iterator[Path]:
    """A new temporary folder beside `final` to fill; it becomes `final` when the block succeeds and vanishes
    when it fails (an exception, Ctrl-C, SIGTERM turned into SystemExit). When `final` exists by then, it is
    replaced (`replace`) or kept, the new copy dropped: another process published the same entry first."""
    staging = Path(tempfile.mkdtemp(dir=final.resolve().parent, prefix=f".{final.name}.tmp-"))
    try:
        yield staging
        staging.chmod(0o777 & ~_umask())
        if replace and final.exists():
            trash = staging.with_name(staging.name + "-old")
            final.rename(trash)
            staging.rename(final)
            shutil.rmtree(trash)
            return
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def published_file(final: Path) -> Iterator[Path]:
    """A temporary path beside `final` to write; it replaces `final` when the block succeeds and is removed
    when it fails, so a reader never sees half a file."""
    handle, name = tempfile.mkstemp(dir=final.resolve().parent, prefix=f".{final.name}.tmp-")
    os.close(handle)
    staging = Path(name)
    try:
        yield staging
        staging.chmod(0o666 & ~_umask())
        staging.replace(final)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


@contextmanager
def published_files(folder: Path) -> Iterator[Path]:
    """A temporary folder inside `folder` to write files into; when the block succeeds each replaces its namesake
    in `folder` (a rename, which a full disk cannot stop halfway), when it fails they vanish: `folder` keeps
    its previous files whole (a training run's last checkpoint)."""
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".files.tmp-"))
    try:
        yield staging
        for path in sorted(staging.iterdir()):
            path.chmod(0o666 & ~_umask())
            path.replace(folder / path.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
