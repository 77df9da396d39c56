"""Elementwise loops over a transcendental function ask LLVM for INTERLEAVE vectors per iteration
(render._hints): the IR carries the loop hint only for long rows, the code for both host kinds stores
that many full vectors per iteration, and results equal the interp backend's (rtol 2e-6: the same
float32 formula per element, exp within 1.03 ulp of NumPy's) including the remainder elements."""
from __future__ import annotations

import re

import numpy
import pytest

from hybrid import passes
from hybrid.codegen.llvm import module, render, target

from test_llvm_util import HOST_KINDS, assembly, compare, graph_of, op


def _chain(n: int):
    """W3's chain: relu(x * 1.5 + 0.25) * sigmoid(x) + 0.5 * x over n floats."""
    def body(g, x):
        lin = op(g, "add", op(g, "mul", x, op(g, "constant", value=numpy.float32(1.5))),
                 op(g, "constant", value=numpy.float32(0.25)))
        half = op(g, "mul", x, op(g, "constant", value=numpy.float32(0.5)))
        return [op(g, "add", op(g, "mul", op(g, "relu", lin), op(g, "sigmoid", x)), half)]
    return graph_of({"x": ((n,), "f32")}, body, name="chain")


def _ir(graph, triple: str) -> str:
    return module.build_module(passes.optimize(graph).graph, triple).ir


@pytest.mark.parametrize("n", [render.INTERLEAVE_MIN + 37, 3 * render.INTERLEAVE_MIN])
def test_interleaved_chain_matches_interp(n):
    x = numpy.random.default_rng(n).standard_normal(n).astype("f4") * 8
    compare(_chain(n), [x], rtol=2e-6, atol=1e-7)


def test_only_long_transcendental_rows_get_the_hint():
    triple = target.host()[0]
    hinted = f"!llvm.loop {render.INTERLEAVE_ID}"
    assert hinted in _ir(_chain(render.INTERLEAVE_MIN), triple)
    assert hinted not in _ir(_chain(render.INTERLEAVE_MIN - 1), triple)
    plain = graph_of({"x": ((1 << 16,), "f32")}, lambda g, x: [op(g, "relu", op(g, "mul", x, x))])
    assert hinted not in _ir(plain, triple)


@pytest.mark.parametrize("cpu, features, width, reg", HOST_KINDS)
def test_both_host_kinds_store_interleaved_vectors(cpu, features, width, reg):
    wide = ",-prefer-256-bit" if reg == "zmm" else ""   # as target.host() sets on AVX-512 hosts
    asm = assembly(lambda triple: _ir(_chain(1 << 16), triple), cpu, features + wide)
    # full-width stores of results to the output (not spills to the stack) inside the hot loop
    stores = [line for line in asm if re.search(rf"vmovups\s+%{reg}\d+, [-\w]*\((%r(?!sp)\w+)", line)]
    assert len(stores) >= render.INTERLEAVE, stores
