import pytest

from tokswap.cache import MANIFEST, cache_root

STORES = ("heal-teacher",)  # written by the tests that use them, into their own caches


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """Unit tests cache what they build (their tiny models' tokenizers) in a cache of their own, so the user's
    `tokswap cache` never lists it. The entries already in the user's cache (packaged models, their
    conversions, the llama.cpp build) are reached through links: read, never written."""
    real, own = cache_root(), tmp_path_factory.mktemp("cache")
    for entry in sorted(real.iterdir()) if real.is_dir() else []:
        if entry.name in STORES:
            continue
        if entry.is_dir() and not (entry / MANIFEST).is_file() and any((inner / MANIFEST).is_file() for inner in entry.iterdir()):
            (own / entry.name).mkdir()  # a folder of entries (gguf/): each linked, new ones written here
            for inner in entry.iterdir():
                (own / entry.name / inner.name).symlink_to(inner)
        else:
            (own / entry.name).symlink_to(entry)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOKSWAP_CACHE", str(own))
        yield own
