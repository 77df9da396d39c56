"""Backends: each turns an optimized Graph into an Executable (a callable on NumPy arrays)."""
from __future__ import annotations

import importlib

from ..errors import HybridError
from ..ir.graph import Graph

BACKENDS = ("interp", "llvm", "cuda")


def build(graph: Graph, backend: str = "interp", dump=None, **options):
    if backend not in BACKENDS:
        raise HybridError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module = importlib.import_module(f"{__name__}.{backend}")
    return module.build(graph, dump=dump, **options)
