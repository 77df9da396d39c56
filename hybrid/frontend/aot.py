"""`hb.compile_library`: a block or function as a self-contained shared library with a C header
(hybrid.codegen.library builds it from the traced, optimized graph; `hb.load_library` loads it)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy

from .. import passes
from ..codegen.library import build_library
from ..core.array import NDArray
from ..core.tracing import trace_function
from ..ir.graph import Graph
from . import block
from .block import HybridBlock
from .hybridize import argument_names


def _trace(net_or_fn, example_inputs: Sequence) -> tuple[Graph, dict[str, numpy.ndarray]]:
    args = [a if isinstance(a, NDArray) else NDArray(numpy.asarray(a)) for a in example_inputs]
    if isinstance(net_or_fn, HybridBlock):
        block = net_or_fn
        block._finish_deferred_shapes(args)
        names = {id(p): name for name, p in block._unique_params().items()}
        graph, ctx, _ = trace_function(block.forward, args, type(block).__name__, names,
                                       argument_names(block.forward))
    else:
        fn = getattr(net_or_fn, "compiled", None)
        fn = fn.fn if fn is not None else net_or_fn
        graph, ctx, _ = trace_function(fn, args, getattr(fn, "__name__", "fn"), None, argument_names(fn))
        names = {}
    params = {names.get(id(p), p.name): numpy.ascontiguousarray(p._data_eager()._data) for p in ctx.params_used}
    return graph, params


def compile_library(net_or_fn, example_inputs: Sequence, path: str, name: Optional[str] = None,
                    opt_level: int = 3, cc: Optional[str] = None) -> dict:
    """Compile a block or function for `example_inputs` into the shared library `path` (and a C
    header next to it): traced in inference mode, optimized with the parameters frozen.
    Returns the library's signature (also in the header and <name>_info)."""
    graph, params = _trace(net_or_fn, example_inputs)
    graph = passes.optimize(graph, opt_level=opt_level, freeze=True, frozen=params).graph
    return build_library(graph, params, path, name, cc)


block.library_compiler = compile_library
