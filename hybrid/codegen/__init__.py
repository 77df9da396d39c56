"""Backends: each turns an optimized Graph into an Executable (a callable on NumPy arrays)."""
from __future__ import annotations

import importlib

from ..core.context import register_device_runtime
from ..errors import HybridError
from ..ir.graph import Graph
from ..ir.registry import has_effects

BACKENDS = ("interp", "llvm", "cuda")


def build(graph: Graph, backend: str = "interp", dump=None, segment_opt_level: int = 2, **options):
    """An Executable of `graph` on `backend`. A graph with ops with effects (allreduce) is built
    as pure segments around them, each optimized at `segment_opt_level` (codegen.segmented)."""
    if backend not in BACKENDS:
        raise HybridError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if has_effects(graph):
        from . import segmented
        return segmented.build(graph, backend, segment_opt_level, dump, **options)
    module = importlib.import_module(f"{__name__}.{backend}")
    return module.build(graph, dump=dump, **options)


def _cuda_runtime(device_id: int):
    from .cuda.runtime import get_runtime
    return get_runtime(device=device_id)


register_device_runtime("gpu", _cuda_runtime)   # x.as_in_context(hb.gpu(i)) copies through the CUDA runtime
