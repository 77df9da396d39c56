"""Backends: each turns an optimized Graph into an Executable.

The protocol: a backend registers a `Backend` by name, with `compile(graph, options) -> Executable`
and the options it takes (with their defaults). `build(graph, backend, **options)` validates the
options against the backend's own and the common ones, every backend's, then compiles. An
Executable is called with a list of arrays in graph-input order (core NDArrays, device arrays,
or NumPy arrays) and returns a list of core NDArrays; `refresh_params()` makes it re-read
parameters written behind hybrid's back. interp, llvm and cuda register themselves when first
asked for; a new backend (an ONNX runner, a device) calls `register_backend`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

from ..core.array import NDArray
from ..core.context import register_device_runtime
from ..errors import HybridError
from ..ir.graph import Graph
from ..ir.registry import has_effects


class Executable(Protocol):
    graph: Graph
    backend: str

    def __call__(self, inputs: Sequence) -> list[NDArray]: ...

    def refresh_params(self) -> None: ...


# MXNet's hybridize() flags, accepted by every backend so Gluon code runs unchanged. They tune
# MXNet's executor; hybrid always plans one arena per executable (static allocation) and compiles
# per static input signature, and inlines everything into one entry point, so their values
# change nothing here beyond their check.
COMMON_OPTIONS: dict[str, Any] = {"static_alloc": False, "static_shape": False, "inline_limit": 2,
                                  "forward_bulk_size": None, "backward_bulk_size": None,
                                  "dump": None}   # dump: the folder for generated code (HYBRID_DUMP)


def _check_common(options: dict) -> None:
    for name in ("static_alloc", "static_shape"):
        if not isinstance(options[name], bool):
            raise HybridError(f"{name} must be True or False, got {options[name]!r}")
    for name in ("inline_limit", "forward_bulk_size", "backward_bulk_size"):
        value = options[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise HybridError(f"{name} must be a whole number >= 0 (or None), got {value!r}")


@dataclass(frozen=True)
class Backend:
    name: str
    compile: Callable[[Graph, dict], Executable]   # options: every option, validated, defaults filled in
    options: dict[str, Any] = field(default_factory=dict)   # the backend's own options -> defaults
    doc: str = ""
    # the backend's workspace rule for the memory planner (passes/memory_plan.py): top graph ->
    # ((graph, node) -> scratch bytes the node needs); None: regions' layout only, no kernel scratch
    workspace: Optional[Callable[[Graph], Callable]] = None
    # the backend's rule for the channel-blocked layout pass (passes/conv_layout.py): a conv2d node -> the
    # channel block its kernel reads its input in, or None; None: the backend's convolutions read NCHW
    conv_layout: Optional[Callable] = None


_REGISTRY: dict[str, Backend] = {}
# built-in backends are imported on first use (llvmlite and PyCUDA load only when needed)
_BUILTIN = {"interp": "interp", "llvm": "llvm", "cuda": "cuda"}


def register_backend(backend: Backend) -> None:
    overlap = set(backend.options) & set(COMMON_OPTIONS)
    if overlap:
        raise HybridError(f"backend {backend.name!r} redefines common options {sorted(overlap)}")
    _REGISTRY[backend.name] = backend


def backend_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_backend(name: str) -> Backend:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(f"{__name__}.{_BUILTIN[name]}")   # registers itself
    if name not in _REGISTRY:
        raise HybridError(f"unknown backend {name!r}; choose one of {', '.join(backend_names())}")
    return _REGISTRY[name]


def resolve_options(backend: str, options: dict) -> dict:
    """Every option of `backend`: `options` checked (an unknown one is an error naming the valid
    ones), the defaults filled in."""
    spec = get_backend(backend)
    unknown = sorted(set(options) - set(spec.options) - set(COMMON_OPTIONS))
    if unknown:
        valid = ", ".join(list(spec.options) + list(COMMON_OPTIONS))
        raise HybridError(f"{backend} backend: unknown options {unknown}; the options are {valid}")
    resolved = {**COMMON_OPTIONS, **spec.options, **options}
    _check_common(resolved)
    return resolved


def workspace_rule(name: str) -> Optional[Callable[[Graph], Callable]]:
    """The backend's workspace rule, for passes.optimize(workspace_rule=...): the memory plan is
    then made for exactly the buffers that backend's kernels need, and the backend places by it."""
    return get_backend(name).workspace


def conv_layout_rule(name: str) -> Optional[Callable]:
    """The backend's rule for passes.optimize(conv_layout=...): which convolutions read a blocked input."""
    return get_backend(name).conv_layout


def build(graph: Graph, backend: str = "interp", dump: Optional[str] = None, segment_opt_level: int = 2,
          **options) -> Executable:
    """Compile an optimized graph with `backend`. A graph with ops with effects (allreduce) is
    built as pure segments around them, each optimized at `segment_opt_level` (codegen.segmented)."""
    if has_effects(graph):
        from . import segmented
        return segmented.build(graph, backend, segment_opt_level, dump, **options)
    resolved = resolve_options(backend, dict(options, dump=dump))
    return get_backend(backend).compile(graph, resolved)


def _cuda_runtime(device_id: int):
    from .cuda.runtime import get_runtime
    return get_runtime(device=device_id)


register_device_runtime("gpu", _cuda_runtime)   # x.as_in_context(hb.gpu(i)) copies through the CUDA runtime
