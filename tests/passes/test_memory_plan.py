import dataclasses
from textwrap import dedent

import numpy
import pytest

import hybrid as hb
from hybrid.passes import MemoryPlanError, check_memory_plan

CHAIN = """
    graph @f(%x: f32[256], %w: f32[256,256]) -> f32[256] {
      %0 = exp(%x) : f32[256]
      %1 = reshape(%0) {shape=[1, 256]} : f32[1,256]
      %2 = matmul(%1, %w) {transpose_a=false, transpose_b=false} : f32[1,256]
      %3 = reshape(%2) {shape=[256]} : f32[256]
      %4 = tanh(%3) : f32[256]
      %5 = add(%4, %0) : f32[256]
      %6 = neg(%5) : f32[256]
      return %6
    }
"""


def test_plan_reuses_buffers_and_works_in_place(rewrite):
    # %0 lives until %5 and keeps b0; %3 reuses %1's buffer (dead after %2); the elementwise
    # ops overwrite their dying operand 0; x and w (graph inputs) are not in the arena.
    graph = rewrite(["memory_plan"], CHAIN, """
        graph @f(%x: f32[256], %w: f32[256,256]) -> f32[256] {
          %0 = exp(%x) : f32[256]  #  | %0 -> b0 @0 (1.0 KB)
          %1 = reshape(%0) {shape=[1, 256]} : f32[1,256]  #  | %1 -> b1 @1024 (1.0 KB)
          %2 = matmul(%1, %w) {transpose_a=false, transpose_b=false} : f32[1,256]  #  | %2 -> b2 @2048 (1.0 KB)
          %3 = reshape(%2) {shape=[256]} : f32[256]  #  | %3 -> b1 @1024 (1.0 KB)
          %4 = tanh(%3) : f32[256]  #  | %4 -> b1 @1024 (1.0 KB) in place of %3
          %5 = add(%4, %0) : f32[256]  #  | %5 -> b1 @1024 (1.0 KB) in place of %4
          %6 = neg(%5) : f32[256]  #  | %6 -> b1 @1024 (1.0 KB) in place of %5
          return %6
        }
    """)
    plan = graph.memory_plan
    assert plan.summary() == "naive 7.2 KB -> planned 3.1 KB (7 -> 3 buffers)"
    assert plan.slot(2).offset == 2048 and plan.slot(6).inplace_of == "%5"
    check_memory_plan(graph)
    # the plan comments are part of the text form and parse back
    assert str(hb.ir.parse(str(graph))) == str(graph)


def test_outputs_and_inputs_are_never_overwritten():
    graph = hb.passes.run(hb.ir.parse(dedent("""
        graph @f(%x: f32[64]) -> (f32[64], f32[64]) {
          %0 = exp(%x) : f32[64]
          %1 = neg(%0) : f32[64]
          %2 = tanh(%1) : f32[64]
          %3 = sin(%2) : f32[64]
          return %3, %0
        }
    """)), ["memory_plan"])
    plan = graph.memory_plan
    returned = plan.slot(0)
    assert returned.end == len(graph.nodes)
    others = [plan.slot(i) for i in (1, 2, 3)]
    assert all(s.offset != returned.offset for s in others)
    assert plan.slot(1).inplace_of is None  # exp(%x): %x is the caller's array
    check_memory_plan(graph)


def test_checker_rejects_overlapping_live_values():
    graph = hb.passes.run(hb.ir.parse(dedent(CHAIN)), ["memory_plan"])
    plan = graph.memory_plan
    slots = list(plan.slots)
    slots[2] = dataclasses.replace(slots[2], offset=slots[0].offset, buffer=slots[0].buffer)  # %2 onto live %0
    bad = dataclasses.replace(plan, slots=slots)
    with pytest.raises(MemoryPlanError, match="overlaps"):
        check_memory_plan(graph, bad)


def test_checker_rejects_in_place_over_an_operand_read_later():
    graph = hb.passes.run(hb.ir.parse(dedent(CHAIN)), ["memory_plan"])
    plan = graph.memory_plan
    slots = list(plan.slots)
    slots[1] = dataclasses.replace(slots[1], offset=slots[0].offset, buffer=slots[0].buffer, inplace_of="%0")
    with pytest.raises(MemoryPlanError, match="%1 .* overlaps %0"):
        check_memory_plan(graph, dataclasses.replace(plan, slots=slots))


def test_checker_rejects_a_stale_plan():
    graph = hb.passes.run(hb.ir.parse(dedent(CHAIN)), ["memory_plan"])
    graph.add_node("exp", [graph.outputs[0]])
    with pytest.raises(MemoryPlanError, match="stale"):
        check_memory_plan(graph)


def test_planned_graph_runs_the_same_on_a_real_arena(arena_run):
    from hybrid.codegen.interp import run_graph
    from hybrid.model_zoo import ZOO

    ctor, shape = ZOO["transformer"]
    net = ctor()
    net.initialize()
    x = numpy.random.default_rng(0).standard_normal(shape).astype(numpy.float32)
    traced = hb.trace(net, x)
    graph = hb.passes.optimize(traced, 2).graph
    params = net.collect_params()
    inputs = [x] + [params[v.name].data().asnumpy() for v in traced.params]
    for got, want in zip(arena_run(graph, inputs), run_graph(traced, inputs)):
        numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_plan_parses_back_and_is_part_of_graph_equality():
    planned = hb.passes.run(hb.ir.parse(dedent(CHAIN)), ["memory_plan"])
    parsed = hb.ir.parse(str(planned))
    assert parsed.memory_plan == planned.memory_plan          # every slot: offset, buffer, lifetime, in place
    check_memory_plan(parsed)
    moved = hb.ir.parse(str(planned).replace("%2 -> b2 @2048", "%2 -> b2 @3072"))
    assert moved != planned and moved.memory_plan.slot(2).offset == 3072
    unplanned = hb.ir.parse(dedent(CHAIN))
    assert unplanned.memory_plan is None and unplanned != planned
    with pytest.raises(hb.FormatError, match=r"memory-plan note '%2 -> b2 at 2048' of node 2 is not"):
        hb.ir.parse(str(planned).replace("%2 -> b2 @2048 (1.0 KB)", "%2 -> b2 at 2048"))
