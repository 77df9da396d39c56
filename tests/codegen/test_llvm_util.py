"""Helpers for the LLVM backend tests: build small graphs and compare llvm with interp."""
from __future__ import annotations

import numpy

from hybrid import passes
from hybrid.codegen import build
from hybrid.ir.graph import Graph
from hybrid.ir.types import TensorType


def graph_of(inputs: dict[str, tuple], body, name: str = "t") -> Graph:
    """inputs: name -> (shape, dtype); body(g, *values) returns the output values."""
    g = Graph(name)
    vals = [g.add_input(n, TensorType(tuple(s), d)) for n, (s, d) in inputs.items()]
    outs = body(g, *vals)
    g.outputs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return g


def op(g: Graph, name: str, *args, **attrs):
    return g.add_node(name, list(args), attrs).outputs[0]


def compare(graph: Graph, inputs: list[numpy.ndarray], rtol: float = 1e-5, atol: float = 1e-6,
            optimize: bool = True, **options) -> list[numpy.ndarray]:
    """Run the graph on interp (unoptimized) and on llvm (optimized: fused + planned unless
    optimize=False) and assert they agree; NaNs must sit at the same places."""
    expected = build(graph, "interp")(inputs)
    g = passes.optimize(graph).graph if optimize else graph
    got = build(g, "llvm", **options)(inputs)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape and a.dtype == b.dtype, (i, a.shape, b.shape, a.dtype, b.dtype)
        if a.dtype.kind == "f":
            numpy.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"output {i}")
        else:
            numpy.testing.assert_array_equal(a, b, err_msg=f"output {i}")
    return got
