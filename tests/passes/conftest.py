"""Helpers for the pass tests: text in, text out (like LLVM FileCheck tests)."""
from textwrap import dedent

import numpy
import pytest

import hybrid as hb
from hybrid.codegen.interp import run_graph


def ir(text: str) -> hb.ir.Graph:
    return hb.ir.parse(dedent(text))


@pytest.fixture
def rewrite():
    """rewrite(passes, before, after, **context): parse `before`, run the passes, compare the
    printed result with `after` (both dedented), and check the rewrite kept the numbers."""
    def check(passes, before, after, **context):
        graph = ir(before)
        result = hb.passes.run(graph, passes, **context)
        assert str(result) == dedent(after).strip(), "\n" + str(result)
        same_results(graph, result, context.get("frozen"))
        return result
    return check


def random_inputs(graph, seed=0):
    rng = numpy.random.default_rng(seed)
    arrays = []
    for v in graph.inputs:
        dtype = hb.ir.types.to_numpy_dtype(v.dtype)
        if v.dtype == "bool":
            arrays.append(rng.random(v.shape) < 0.5)
        elif dtype.kind in "iu":
            arrays.append(rng.integers(-5, 5, v.shape).astype(dtype))
        else:
            arrays.append(rng.uniform(-2, 2, v.shape).astype(dtype))
    return arrays


def same_results(before, after, frozen=None, rtol=1e-5, atol=1e-6):
    """The interp backend gives the same outputs for both graphs (frozen params fed their values)."""
    arrays = random_inputs(before)
    for i, v in enumerate(before.inputs):
        if frozen and v.name in frozen:
            arrays[i] = frozen[v.name]
    for a, b in zip(run_graph(before, arrays), run_graph(after, arrays)):
        numpy.testing.assert_allclose(b, a, rtol=rtol, atol=atol, equal_nan=True)


def run_in_arena(graph, inputs):
    """Run `graph` on interp with every planned result stored in, and read back from, its bytes
    of one arena laid out by graph.memory_plan: a wrong offset or in-place choice corrupts outputs."""
    from hybrid.ir.registry import get_op

    plan = graph.memory_plan
    arena = numpy.zeros(plan.arena_bytes, numpy.uint8)
    env = dict(zip(graph.inputs, inputs))
    for i, node in enumerate(graph.nodes):
        args = [env[v] for v in node.inputs]
        outs = (get_op(node.op).ref(run_graph, node.regions, *args, **node.attrs) if node.regions
                else get_op(node.op).ref(*args, **node.attrs))
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for k, (v, out) in enumerate(zip(node.outputs, outs)):
            slot = plan.slot(i, k)
            if slot is None:
                env[v] = out
                continue
            out = numpy.asarray(out)
            view = arena[slot.offset:slot.offset + slot.nbytes].view(out.dtype).reshape(out.shape)
            view[...] = out
            env[v] = view
    return [numpy.array(env[v]) for v in graph.outputs]


@pytest.fixture
def arena_run():
    return run_in_arena
