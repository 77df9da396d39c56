"""The LLVM disk cache's size cap (HYBRID_CACHE_MAX_MB): LRU eviction after each write, hits
count as use, 0 = unlimited, and entries removed by another process are misses."""
from __future__ import annotations

import logging
import os

import pytest

from hybrid import HybridError
from hybrid.codegen.llvm import cache

KIB = 1 << 10
ENTRY = 300 * KIB     # payload bytes; a 1 MB cap holds three entries (plus their headers)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HYBRID_CACHE_MAX_MB", "1")
    return tmp_path


def _store(key: str, age_s: float) -> None:
    """Write an entry whose last use was `age_s` seconds ago (explicit mtimes: no sleeps)."""
    cache.store(key, _payload(key))
    when = os.path.getmtime(cache._path(key)) - age_s
    os.utime(cache._path(key), (when, when))


def _payload(key: str) -> bytes:
    return b"\x7fELF" + key.encode() * (ENTRY // len(key))   # load() accepts only object files


def _keys(folder) -> set[str]:
    return {n[:-2] for n in os.listdir(folder) if n.endswith(".o")}


def test_cap_evicts_least_recently_written(folder, monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_LOG", "compile")
    for age, key in [(40, "k0"), (30, "k1"), (20, "k2"), (10, "k3")]:
        _store(key, age)
    with caplog.at_level(logging.INFO, logger="hybrid"):
        _store("k4", 0)
    assert _keys(folder) == {"k2", "k3", "k4"}     # k0 evicted by k3's write, k1 by k4's
    assert "evicted k1.o" in caplog.text
    total = sum(os.path.getsize(folder / n) for n in os.listdir(folder))
    assert total <= 1 << 20


def test_a_hit_keeps_its_entry(folder):
    for age, key in [(30, "old"), (20, "mid"), (10, "new")]:
        _store(key, age)
    assert cache.load("old") == _payload("old")   # the hit makes "old" the most recent
    _store("next", 0)
    assert _keys(folder) == {"old", "new", "next"}


def test_cap_zero_is_unlimited(folder, monkeypatch):
    monkeypatch.setenv("HYBRID_CACHE_MAX_MB", "0")
    for k in range(6):
        _store(f"e{k}", 10 - k)
    assert len(_keys(folder)) == 6
    monkeypatch.delenv("HYBRID_CACHE_MAX_MB")
    assert cache.max_bytes() == 1024 << 20
    monkeypatch.setenv("HYBRID_CACHE_MAX_MB", "lots")
    with pytest.raises(HybridError, match="HYBRID_CACHE_MAX_MB"):
        cache.max_bytes()


def test_entries_removed_by_another_process(folder, monkeypatch, caplog):
    """A vanished entry is a miss; eviction skips entries gone before stat or before removal."""
    monkeypatch.setenv("HYBRID_LOG", "compile")
    _store("gone", 5)
    os.remove(cache._path("gone"))
    assert cache.load("gone") is None
    os.symlink(folder / "nowhere.o", folder / "dangling.o")    # listed, but stat fails
    for age, key in [(30, "a"), (20, "b"), (10, "c")]:
        _store(key, age)
    remove = os.remove

    def raced_remove(path):   # another process evicts the same entry just before us
        remove(path)
        remove(path)
    monkeypatch.setattr(os, "remove", raced_remove)
    with caplog.at_level(logging.INFO, logger="hybrid"):
        _store("d", 0)
    assert _keys(folder) - {"dangling"} == {"b", "c", "d"}
    assert "could not" not in caplog.text     # someone else's eviction is not a failure

    def evicted_after_read(path, *args):   # another process removes the entry between our read and utime
        remove(path)
        raise FileNotFoundError(path)
    monkeypatch.setattr(os, "utime", evicted_after_read)
    assert cache.load("d") is not None     # the bytes were read before the removal: still a hit
    assert cache.load("d") is None
