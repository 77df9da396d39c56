"""Identical functions of one LLVM module are defined once (codegen/llvm/dedup.py): a graph repeating a layer
compiles one kernel called several times, with results equal to the interp backend's (rtol 1e-5: the same
float32 operations in the same order per element; only the summation order of NumPy's matmul differs)."""
from __future__ import annotations

import re

import numpy

from hybrid import passes
from hybrid.codegen.llvm import module, target
from hybrid.codegen.llvm.dedup import merge_identical

from test_llvm_util import compare, graph_of, op

rng = numpy.random.default_rng(0)


def test_duplicates_are_merged_and_their_callers_renamed():
    helper = "define internal float @{n}_h(float %x) {{\n  ret float %x\n}}\n"
    kernel = "define internal void @{n}(ptr %p) noinline {{\n  %v = call float @{n}_h(float 1.0)\n  ret void\n}}\n"
    other = "define internal void @k10(ptr %p) {\n  ret void\n}\n"
    functions = [helper.format(n="k1"), kernel.format(n="k1"), helper.format(n="k2"), kernel.format(n="k2"), other]
    entry = "call void @k1(ptr null)\ncall void @k2(ptr null)\ncall void @k10(ptr null)\n"
    merged, (calls,) = merge_identical(functions, [entry])
    # k2's helper equals k1's; renamed, k2 equals k1 as well; k10 (k1 is a prefix of its name) is untouched
    assert merged == [helper.format(n="k1"), kernel.format(n="k1"), other]
    assert calls == "call void @k1(ptr null)\ncall void @k1(ptr null)\ncall void @k10(ptr null)\n"


def test_repeated_layer_compiles_one_kernel():
    x = rng.standard_normal((4, 16)).astype("f4")
    w = [rng.standard_normal((16, 16)).astype("f4") for _ in range(3)]

    def body(g, a, *ws):
        for k in ws:   # three equal-shaped matmul + tanh layers: one kernel's code, called three times
            a = op(g, "tanh", op(g, "matmul", a, k))
        return [a]
    graph = graph_of({"a": ((4, 16), "f32"), **{f"w{i}": ((16, 16), "f32") for i in range(3)}}, body,
                     name="repeated")
    compare(graph, [x, *w], rtol=1e-5, atol=1e-6)
    text = module.build_module(passes.optimize(graph).graph, target.host()[0]).ir
    defined = re.findall(r"^define [^@]*@([\w.$]+)\(", text, re.M)
    assert len(defined) == len(set(defined))
    called = re.findall(r"call void @(kern\d+)\(", text)
    assert len(called) == 3 and len(set(called)) == 1, called
