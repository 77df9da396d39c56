"""Top-level functions: `hybridize` (decorator), `trace` (like jax.make_jaxpr) and `load`."""
from __future__ import annotations

import functools
from typing import Callable, Optional

from ..ir.graph import Graph
from ..core.array import Array, NDArray
from .block import HybridBlock, SymbolBlock
from .hybridize import CompileOptions, CompiledFunction, argument_names, positional_args
from ..core.tracing import trace_function


class HybridFunction:
    """A plain function compiled per input signature (what `@hb.hybridize` returns)."""

    def __init__(self, fn: Callable, options: CompileOptions):
        functools.update_wrapper(self, fn)
        self.compiled = CompiledFunction(fn, fn.__name__, options)

    def __call__(self, *args, **kwargs):
        return self.compiled(*positional_args(self.compiled.fn, args, kwargs))

    def ir(self, stage: Optional[str] = None, format: str = "text") -> str:
        """The IR of the last compiled signature (optimized), or any stage by name."""
        return self.compiled.ir(stage, format)

    def export(self, prefix: str):
        from .export import export_compiled
        return export_compiled(self.compiled, prefix)


def hybridize(fn: Optional[Callable] = None, *, backend: Optional[str] = None, opt_level: int = 2,
              freeze: bool = False, dump: Optional[str] = None, max_signatures: int = 8, **backend_options):
    """Compile a function of arrays: `@hb.hybridize` or `@hb.hybridize(backend="llvm")`."""
    def wrap(f: Callable) -> HybridFunction:
        options = CompileOptions(opt_level=opt_level, freeze=freeze, dump=dump, max_signatures=max_signatures,
                                 backend_options=backend_options)
        if backend is not None:
            options.backend = backend
        return HybridFunction(f, options)
    return wrap(fn) if fn is not None else wrap


def trace(fn, *example_args) -> Graph:
    """The traced graph of `fn(*example_args)` (a function or a block), before optimization."""
    import numpy

    args = [NDArray(numpy.asarray(a)) if isinstance(a, numpy.ndarray) else a for a in example_args]
    if isinstance(fn, HybridBlock):
        block = fn
        block._finish_deferred_shapes(args)
        names = {id(p): name for name, p in block._unique_params().items()}
        graph, _, _ = trace_function(block.forward, args, type(block).__name__, names, argument_names(block.forward))
        return graph
    target = fn.compiled.fn if isinstance(fn, HybridFunction) else fn
    name = getattr(target, "__name__", "fn")
    graph, _, _ = trace_function(target, args, name, None, argument_names(target))
    return graph


def load(prefix: str, backend: Optional[str] = None) -> SymbolBlock:
    """Load an exported model (`prefix-symbol.json` + `prefix-0000.params`); no model code needed."""
    return SymbolBlock.imports(prefix, backend=backend)


__all__ = ["hybridize", "trace", "load", "HybridFunction", "Array"]
