"""Dropped compiled functions give their memory back: no cache of hybrid's keeps an executable,
its native engine or its Python structures alive. (The native memory that remains, about 75 KiB
per LLVM optimization run, is llvmlite's: LLVMPY_CreatePassBuilder allocates a
PassInstrumentationCallbacks it never frees; a disk-cache hit skips optimization and leaks none.
See docs/reliability.md.)"""
from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np

X = onp.ones((8, 8), "float32")


def _make(i: int):
    return hb.hybridize(lambda a: np.tanh(a * float(i) + 1.0).sum(axis=1), backend="llvm")


def test_dropped_functions_free_their_executables():
    f = _make(1)
    f(X)
    built = f.compiled.last.executable.built
    engine = weakref.ref(built.engine) if hasattr(built.engine, "__weakref__") else None
    ref = weakref.ref(built)
    del f, built
    gc.collect()
    assert ref() is None, gc.get_referrers(ref())
    assert engine is None or engine() is None


def _python_growth_per_function(n: int) -> float:
    for i in range(3):         # warm every cache (compile cache, registries, address table)
        _make(i)(X)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(n):
        f = _make(100 + i)
        f(X)
        del f
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(s.size_diff for s in after.compare_to(before, "filename")) / n


def test_python_memory_stays_flat_over_many_signatures():
    growth = _python_growth_per_function(8)
    assert growth < 4096, f"{growth:.0f} bytes of Python memory kept per dropped compiled function"


@pytest.mark.slow
def test_python_memory_stays_flat_over_600_signatures():
    growth = _python_growth_per_function(600)
    assert growth < 1024, f"{growth:.0f} bytes of Python memory kept per dropped compiled function"
