"""Backends: each turns an optimized Graph into an Executable (a callable on NumPy arrays)."""
from __future__ import annotations

import importlib

from ..core.context import register_device_runtime
from ..errors import HybridError
from ..ir.graph import Graph

BACKENDS = ("interp", "llvm", "cuda")


def build(graph: Graph, backend: str = "interp", dump=None, **options):
    if backend not in BACKENDS:
        raise HybridError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module = importlib.import_module(f"{__name__}.{backend}")
    return module.build(graph, dump=dump, **options)


def _cuda_runtime(device_id: int):
    from .cuda.runtime import get_runtime
    return get_runtime(device=device_id)


register_device_runtime("gpu", _cuda_runtime)   # x.as_in_context(hb.gpu(i)) copies through the CUDA runtime
