"""What keeps LLVM compiles cheap without changing results: the JIT's modules declare the runtime helpers
(hb_barrier, __truncsfbf2) that one shared object defines (support.runtime_ir), an AOT module still defines
them itself, and the entry point is `optnone` (glue: calls and barriers). Results equal interp's (rtol 1e-5:
the same float32 operations per element) on several threads, where the kernels meet at the shared barrier."""
from __future__ import annotations

import re

import llvmlite.binding as llvm
import numpy

from hybrid import config, passes
from hybrid.codegen.llvm import module, support, target

from test_llvm_util import compare, graph_of, op

rng = numpy.random.default_rng(0)


def _graph():
    def body(g, a, b):
        s = op(g, "sum", op(g, "mul", a, a), axes=(1,), keepdims=True)      # a reduction: a barrier after it
        return [op(g, "tanh", op(g, "add", op(g, "div", a, s), op(g, "matmul", a, b)))]
    return graph_of({"a": ((64, 48), "f32"), "b": ((48, 48), "f32")}, body, name="helpers")


def _defined(text: str) -> set[str]:
    return set(re.findall(r"^define [^@]*@([\w.$]+)\(", text, re.M))


def test_jit_module_declares_the_runtime_helpers_and_aot_defines_them():
    graph = passes.optimize(_graph()).graph
    jit = module.build_module(graph, target.host()[0])
    aot = module.build_module(graph, target.host()[0], constant_symbols="lib")
    assert jit.links_runtime and not aot.links_runtime
    assert {"hb_barrier", "__truncsfbf2"} & _defined(jit.ir) == set()
    assert support.BARRIER_DECLARATION in jit.ir
    assert {"hb_barrier", "__truncsfbf2"} <= _defined(aot.ir)
    for plan in (jit, aot):
        header = re.search(r"^define void @hybrid_entry\(.*$", plan.ir, re.M).group(0)
        assert "optnone" in header and "noinline" in header   # LLVM requires noinline with optnone
    runtime = llvm.parse_assembly(support.runtime_ir(target.host()[0]))
    runtime.verify()
    exported = {f.name for f in runtime.functions if not f.is_declaration and f.linkage != llvm.Linkage.internal}
    assert exported == {"hb_barrier", "__truncsfbf2"}     # the barrier's wait and wake helpers are internal


def test_kernels_linked_to_the_shared_barrier_equal_interp(tmp_path):
    a = rng.standard_normal((64, 48)).astype("f4")
    b = rng.standard_normal((48, 48)).astype("f4")
    with config(cache_dir=str(tmp_path)):
        compare(_graph(), [a, b], rtol=1e-5, atol=1e-5, num_threads=3)
