"""Where fetched artefacts and computed results live between runs, each checked whenever it is read.

Every entry is a folder published whole (`staging.published_folder`) with a manifest saying what it is and
each file's size, plus a checksum for files small enough to hash on every read (large ones are checked by
size and, for safetensors, by their header). A full disk or a killed copy leaves a damaged entry: it is
found on the next read, removed with one line on stderr, and built again; a user never has to find it.

A bounded store (`stored_tensors`) is one entry holding many small results under a size limit: each result is
one file, written whole or not at all, checked when read; the least recently used go first when the store
grows past its limit. `heal` keeps its teacher outputs there, one file a step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import TokswapError
from .staging import published_folder

MANIFEST = "tokswap-entry.json"
HASHED_BELOW = 64 << 20


def cache_root() -> Path:
    return Path(os.environ.get("TOKSWAP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tokswap")


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(path: Path) -> dict:
    size = path.stat().st_size
    return {"size": size, "sha256": sha256_file(path)} if size < HASHED_BELOW else {"size": size}


def _damage(folder: Path) -> str | None:
    """Why an entry cannot be trusted, or None when every file is as it was published."""
    from .safetensors_io import read_header

    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "it has no readable manifest (an older tokswap wrote it, or it was cut short)"
    for name, record in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != record["size"]:
            return f"{name} has {path.stat().st_size:,} bytes, {record['size']:,} were written"
        if "sha256" in record and sha256_file(path) != record["sha256"]:
            return f"{name} does not match its checksum"
        if path.suffix == ".safetensors":
            try:
                read_header(path)
            except TokswapError as err:
                return str(err)
    return None


def remove_path(path: Path) -> None:
    """Take an entry (or any path in the cache) away in one step, a rename, so a process reading it sees it
    whole or not at all; a link goes, never what it points to."""
    trash = path.with_name(f".{path.name}.removed-{os.getpid()}-{time.monotonic_ns()}")
    try:
        path.rename(trash)
    except FileNotFoundError:
        return
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink()


def cached_folder(final: Path, what: str, build: Callable[[Path], None]) -> Path:
    """The cache entry `final`: checked and returned when it is sound, otherwise (re)built by `build(folder)`,
    which fills an empty folder. Two processes building one entry at once both succeed; one copy is kept."""
    damage = _damage(final) if final.is_dir() else None
    if final.is_dir() and damage is None:
        os.utime(final / MANIFEST)  # last use, for `tokswap cache`
        return final
    if damage is not None:
        print(f"tokswap: cache entry {final} ({what}) is damaged: {damage}; rebuilding it", file=sys.stderr)
        remove_path(final)
    try:
        with published_folder(final) as staging:
            build(staging)
            files = {p.relative_to(staging).as_posix(): _record(p) for p in sorted(staging.rglob("*")) if p.is_file()}
            (staging / MANIFEST).write_text(json.dumps({"what": what, "files": files}, indent=1))
    except TokswapError as err:
        if damage is None:
            raise
        raise TokswapError(f"rebuilding the damaged cache entry {final} ({what}) failed: {err}") from None
    return final


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    what: str
    size: int
    last_use: float

    @property
    def name(self) -> str:
        return self.path.relative_to(cache_root()).as_posix()


def _file_size(path: Path) -> int:
    """A file's size; 0 when another process removed it meanwhile (a bounded store evicting, a build renaming)."""
    try:
        return path.stat().st_size if path.is_file() and not path.is_symlink() else 0
    except OSError:
        return 0


def disk_size(path: Path) -> int:
    if path.is_file():
        return _file_size(path)
    return sum(_file_size(p) for p in path.rglob("*"))


def cache_entries() -> list[CacheEntry]:
    """Every entry under the cache root, most recently used first."""
    entries = []
    for manifest in cache_root().glob(f"**/{MANIFEST}"):
        folder = manifest.parent
        try:
            what = json.loads(manifest.read_text()).get("what", "?")
        except (OSError, ValueError):
            what = "?"
        try:
            last_use = manifest.stat().st_mtime
        except OSError:  # removed while listed
            continue
        entries.append(CacheEntry(folder, what, disk_size(folder), last_use))
    return sorted(entries, key=lambda e: -e.last_use)


def stray_paths(entries: list[CacheEntry]) -> Iterator[Path]:
    """Whatever lies in the cache outside `entries`: interrupted builds, layouts of older versions."""
    root = cache_root()
    if not root.is_dir():
        return
    inside = {entry.path for entry in entries}

    def walk(folder: Path) -> Iterator[Path]:
        for path in sorted(folder.iterdir()):
            if path in inside:
                continue
            if path.is_dir() and not path.name.startswith(".") and any(e.is_relative_to(path) for e in inside):
                yield from walk(path)
            else:
                yield path

    yield from walk(root)


def cached_tensors(folder: str, key: str, what: str, compute: Callable[[], dict]) -> dict:
    """`compute()`'s tensors, kept as the entry `cache_dir(folder)/key` after the first call and read back
    after: the key must name everything the result depends on."""
    from safetensors.torch import load_file, save_file

    computed = {}

    def build(staging: Path) -> None:
        computed.update({name: tensor.contiguous() for name, tensor in compute().items()})
        save_file(computed, staging / "tensors.safetensors")

    entry = cached_folder(cache_dir(folder) / key, what, build)
    return computed or load_file(entry / "tensors.safetensors")


def stored_tensors(store: str, key: str, what: str, limit: int, compute: Callable[[], dict]) -> dict:
    """`compute()`'s tensors, kept in the bounded store `cache_dir(store)` as the file `key` (the key must name
    everything the result depends on) and read back after; when the store grows past `limit` bytes, the least
    recently used files go. A damaged file is computed again; `limit` 0 keeps nothing."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    folder = cache_dir(store)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        for older in (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            remove_path(older)  # an older tokswap kept one entry per result here
        manifest.write_text(json.dumps({"what": what, "files": {}}, indent=1))
    path = folder / f"{key}.safetensors"
    try:
        tensors = load_file(path)
        os.utime(path)
        os.utime(manifest)
        return tensors
    except (OSError, SafetensorError):
        pass
    tensors = {name: tensor.contiguous() for name, tensor in compute().items()}
    if limit > 0:
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{time.monotonic_ns()}")
        save_file(tensors, partial)
        partial.replace(path)
        os.utime(manifest)
        _evict(folder, limit)
    return tensors


def _evict(folder: Path, limit: int) -> None:
    """Remove the store's least recently used files until it holds at most `limit` bytes."""
    files = []
    for path in folder.glob("*.safetensors"):
        try:
            files.append((path.stat().st_mtime, path.stat().st_size, path))
        except OSError:
            continue
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size


def human_size(size: float) -> str:
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


def describe_cache() -> str:
    """What `tokswap cache` prints: every entry with its size and last use, then anything else found there."""
    entries = cache_entries()
    strays = list(stray_paths(entries))
    stray_size = sum(disk_size(p) for p in strays)
    total = sum(e.size for e in entries) + stray_size
    lines = [f"{cache_root()}: {len(entries)} entries, {human_size(total)}"]
    width = max((len(e.name) for e in entries), default=4)
    for entry in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_use))
        lines.append(f"  {entry.name:{width}s}  {human_size(entry.size):>9s}  {used}  {entry.what}")
    if strays:
        lines.append(f"  and {len(strays)} other paths, {human_size(stray_size)} (interrupted builds or an older "
                     "tokswap's layout): `tokswap cache clear --all` removes them")
    return "\n".join(lines)


def clear_cache(names: list[str], older_than_days: float | None, everything: bool) -> str:
    """Remove the named entries, those unused for `older_than_days`, or `everything` under the cache root."""
    entries = cache_entries()
    if everything:
        chosen = [*(e.path for e in entries), *stray_paths(entries)]
    elif older_than_days is not None:
        chosen = [e.path for e in entries if e.last_use < time.time() - older_than_days * 86400]
    else:
        by_name = {e.name: e.path for e in entries}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise TokswapError(f"no cache entry named {unknown[0]!r}; `tokswap cache` lists them")
        chosen = [by_name[name] for name in names]
    freed = sum(disk_size(path) for path in chosen)
    for path in chosen:
        remove_path(path)
    return f"removed {len(chosen)} cache paths, {human_size(freed)}"
