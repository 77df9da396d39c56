"""The memory plan as the one planner: loop-carried results kept in the carried buffer, node
workspaces (scratch) in the plan, and backends placing every buffer exactly where it says."""
import dataclasses
from textwrap import dedent

import numpy
import pytest

import hybrid as hb
from hybrid.ir.memory_plan import SCRATCH
from hybrid.passes import MemoryPlanError, check_memory_plan

# the new carry (%2) is written after the body's last read of the old one (%0 = mul(%c, %x))
SCAN = """
    graph @s(%h: f32[16], %xs: f32[4,16]) -> (f32[16], f32[4,16]) {
      %0, %1 = scan(%h, %xs) {num_carry=1, num_xs=1, length=4, reverse=false} : f32[16], f32[4,16] {
        graph @body(%c: f32[16], %x: f32[16]) -> (f32[16], f32[16]) {
          %0 = mul(%c, %x) : f32[16]
          %1 = tanh(%0) : f32[16]
          %2 = neg(%1) : f32[16]
          return %2, %0
        }
      }
      return %0, %1
    }
"""

# the new carry (%0) is written before the old one is read (%1 = mul(%x, %c)): double-buffered
READ_LATE = """
    graph @s(%h: f32[16], %xs: f32[4,16]) -> (f32[16], f32[4,16]) {
      %0, %1 = scan(%h, %xs) {num_carry=1, num_xs=1, length=4, reverse=false} : f32[16], f32[4,16] {
        graph @body(%c: f32[16], %x: f32[16]) -> (f32[16], f32[16]) {
          %0 = tanh(%x) : f32[16]
          %1 = mul(%x, %c) : f32[16]
          return %0, %1
        }
      }
      return %0, %1
    }
"""


def test_a_loop_result_takes_the_carried_buffer_when_the_old_value_is_dead(rewrite):
    # the scan's workspace (scratch) holds its body's arena: 2 values of 64 B
    graph = rewrite(["memory_plan"], SCAN, """
        graph @s(%h: f32[16], %xs: f32[4,16]) -> (f32[16], f32[4,16]) {
          %0, %1 = scan(%h, %xs) {num_carry=1, num_xs=1, length=4, reverse=false} : f32[16], f32[4,16] {  #  | %0 -> b2 @384 (64 B); %1 -> b0 @0 (256 B); scratch -> b1 @256 (128 B)
            graph @body(%c: f32[16], %x: f32[16]) -> (f32[16], f32[16]) {
              %0 = mul(%c, %x) : f32[16]  #  | %0 -> b0 @0 (64 B)
              %1 = tanh(%0) : f32[16]  #  | %1 -> b1 @64 (64 B)
              %2 = neg(%1) : f32[16]  #  | %2 -> carry %c (64 B)
              return %2, %0
            }
          }
          return %0, %1
        }
    """)
    check_memory_plan(graph)
    body = graph.nodes[0].regions[0]
    assert body.memory_plan.slot(2).carry == 0 and body.memory_plan.arena_bytes == 128
    assert hb.ir.parse(str(graph)).nodes[0].regions[0].memory_plan == body.memory_plan   # parses back


def test_a_loop_result_written_before_the_old_value_is_read_gets_its_own_buffer(rewrite):
    graph = rewrite(["memory_plan"], READ_LATE, """
        graph @s(%h: f32[16], %xs: f32[4,16]) -> (f32[16], f32[4,16]) {
          %0, %1 = scan(%h, %xs) {num_carry=1, num_xs=1, length=4, reverse=false} : f32[16], f32[4,16] {  #  | %0 -> b2 @384 (64 B); %1 -> b0 @0 (256 B); scratch -> b1 @256 (128 B)
            graph @body(%c: f32[16], %x: f32[16]) -> (f32[16], f32[16]) {
              %0 = tanh(%x) : f32[16]  #  | %0 -> b0 @0 (64 B)
              %1 = mul(%x, %c) : f32[16]  #  | %1 -> b1 @64 (64 B)
              return %0, %1
            }
          }
          return %0, %1
        }
    """)
    # the checker refuses the carried buffer for it: the body reads %c after writing %0
    aliased = hb.ir.parse(str(graph).replace("%0 -> b0 @0 (64 B)\n", "%0 -> carry %c (64 B)\n")
                          .replace("%1 -> b1 @64 (64 B)", "%1 -> b0 @0 (64 B)"))
    with pytest.raises(MemoryPlanError, match="carried input 0"):
        check_memory_plan(aliased)


def test_a_swapped_carry_is_staged_in_the_loop_workspace(rewrite):
    # (a, b) -> (b, a + b): b passes through into a's place, so the old b must survive the body
    # (a + b gets a buffer of its own) and needs a staging buffer after the body's arena (64 B)
    rewrite(["memory_plan"], """
        graph @fib(%a: f32[8], %b: f32[8]) -> (f32[8], f32[8]) {
          %0, %1 = scan(%a, %b) {num_carry=2, num_xs=0, length=5, reverse=false} : f32[8], f32[8] {
            graph @body(%x: f32[8], %y: f32[8]) -> (f32[8], f32[8]) {
              %0 = add(%x, %y) : f32[8]
              return %y, %0
            }
          }
          return %0, %1
        }
    """, """
        graph @fib(%a: f32[8], %b: f32[8]) -> (f32[8], f32[8]) {
          %0, %1 = scan(%a, %b) {num_carry=2, num_xs=0, length=5, reverse=false} : f32[8], f32[8] {  #  | %0 -> b1 @128 (32 B); %1 -> b2 @192 (32 B); scratch -> b0 @0 (128 B)
            graph @body(%x: f32[8], %y: f32[8]) -> (f32[8], f32[8]) {
              %0 = add(%x, %y) : f32[8]  #  | %0 -> b0 @0 (32 B)
              return %y, %0
            }
          }
          return %0, %1
        }
    """)


CHAIN = """
    graph @f(%x: f32[256], %w: f32[256,256]) -> f32[256] {
      %0 = exp(%x) : f32[256]
      %1 = reshape(%0) {shape=[1, 256]} : f32[1,256]
      %2 = matmul(%1, %w) {transpose_a=false, transpose_b=false} : f32[1,256]
      %3 = neg(%2) : f32[1,256]
      return %3
    }
"""


def test_a_node_workspace_is_planned_printed_and_checked():
    # a backend asking 100 bytes for the matmul: a block live only at its node, apart from its
    # operands and result
    graph = hb.passes.run(hb.ir.parse(dedent(CHAIN)), ["memory_plan"],
                          workspace=lambda g, node: 100 if node.op == "matmul" else 0)
    # (%2 reuses the bytes of %0, dead since %1; the scratch cannot share with %1, read by the matmul)
    assert str(graph).splitlines()[3].endswith("| %2 -> b0 @0 (1.0 KB); scratch -> b2 @2048 (100 B)")
    plan = graph.memory_plan
    assert plan.scratch(2).nbytes == 100 and plan.scratch(1) is None
    check_memory_plan(graph)
    parsed = hb.ir.parse(str(graph))
    assert parsed.memory_plan == plan and str(parsed) == str(graph)
    # the checker sees a workspace laid over a live value
    slots = [dataclasses.replace(s, offset=plan.slot(0).offset) if s.output == SCRATCH else s for s in plan.slots]
    with pytest.raises(MemoryPlanError, match="scratch of node 2 .* overlaps|overlaps scratch of node 2"):
        check_memory_plan(graph, dataclasses.replace(plan, slots=slots))


def _expected_locations(graph, origin, where, scratch_of):
    """(value -> arena offset) the plan gives, regions counted from their node's scratch."""
    plan = graph.memory_plan
    for i, node in enumerate(graph.nodes):
        for k, v in enumerate(node.outputs):
            slot = plan.slot(i, k)
            if slot is not None:
                where[v] = ("carry", graph.inputs[slot.carry]) if slot.carry is not None else origin + slot.offset
        scratch = plan.scratch(i)
        if scratch is not None:
            scratch_of[node] = (origin + scratch.offset, scratch.nbytes)
        if node.op != "fused":
            for region in node.regions:
                _expected_locations(region, origin + scratch.offset, where, scratch_of)
    return where, scratch_of


def _conv_and_loop(x, w, h):
    y = hb.npx.relu(hb.npx.convolution(x, w, kernel=(3, 3), num_filter=8, no_bias=True, pad=(1, 1)))
    # the new carry is written in place over the old one, its only reader: no copy back per step
    carry, ys = hb.lax.scan(lambda c, row: (hb.np.tanh(c * row + 1), row * 2), h, y.reshape(-1, 16)[:6])
    return carry, ys


def test_llvm_places_every_buffer_where_the_plan_says():
    from hybrid.codegen.llvm import module, target
    from hybrid.codegen.llvm.control import ControlStep, KernelStep

    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2, 4, 8, 8)).astype("float32")
    w = rng.standard_normal((8, 4, 3, 3)).astype("float32")
    h = rng.standard_normal(16).astype("float32")
    traced = hb.trace(_conv_and_loop, x, w, h)
    graph = hb.passes.optimize(traced, 2, workspace_rule=hb.codegen.workspace_rule("llvm")).graph
    plan = module.build_module(graph, target.host()[0])
    assert plan.graph is graph                      # planned for this backend: placed as it is
    assert any(s.output == SCRATCH for s in graph.memory_plan.slots)        # the convolution's im2col
    where, scratch_of = _expected_locations(graph, 0, {}, {})
    placed = 0
    for v, want in where.items():
        got = plan.where[v]
        if isinstance(want, tuple):             # kept in the buffer of the carried state it replaces
            assert got == plan.where[want[1]]
        elif got[0] == "arena":
            assert got[1] == want, v
            placed += 1
        else:                                    # a graph output: the caller's buffer
            assert got[0] == "arg" and v in graph.outputs
    assert placed >= 3
    assert any(isinstance(want, tuple) for want in where.values())
    temps = 0
    for step in module.walk_steps(plan.steps):
        if isinstance(step, KernelStep):
            lo, size = scratch_of.get(step.node, (0, 0))
            for buf, loc in zip([b for b in step.kernel.buffers.values() if b.role != "view"], step.ptrs):
                if buf.role == "temp":
                    assert loc[0] == "arena" and lo <= loc[1] and loc[1] + buf.nbytes <= lo + size
                    temps += 1
        elif isinstance(step, ControlStep):
            assert step.node in scratch_of
    assert temps >= 1
    # and the compiled graph computes what eager code does
    f = hb.hybridize(_conv_and_loop, backend="llvm")
    for got, want in zip(f(x, w, h), _conv_and_loop(hb.np.array(x), hb.np.array(w), hb.np.array(h))):
        numpy.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-4, atol=1e-4)


def test_cuda_places_every_value_where_the_plan_says():
    from hybrid.codegen.cuda import build_program
    from hybrid.codegen.cuda import CudaExecutable
    from hybrid.codegen.cuda.runtime import get_runtime

    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((2, 4, 8, 8)).astype("float32")
    w = rng.standard_normal((8, 4, 3, 3)).astype("float32")
    h = rng.standard_normal(16).astype("float32")
    graph = hb.passes.optimize(hb.trace(_conv_and_loop, x, w, h), 2,
                               workspace_rule=hb.codegen.workspace_rule("cuda")).graph
    program = build_program(graph)
    assert program.graph is graph
    exe = CudaExecutable(graph, program, get_runtime("emulator", 0))
    where, scratch_of = _expected_locations(graph, 0, {}, {})
    first = next(s for s in graph.memory_plan.slots if s.output != SCRATCH)
    base = exe.address[graph.nodes[first.node].outputs[first.output]] - first.offset
    for v, want in where.items():
        if isinstance(want, int):
            assert exe.address[v] == base + want, v
    for node, (offset, _) in scratch_of.items():
        assert exe.scratch_of[id(node)] == base + offset
    for got, want in zip(exe([x, w, h]), _conv_and_loop(hb.np.array(x), hb.np.array(w), hb.np.array(h))):
        numpy.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-4, atol=1e-4)


TWO_RESULTS = """
    graph @m(%x: f32[64], %y: f32[64]) -> f32[64] {
      %0 = exp(%x) : f32[64]
      %1 = neg(%y) : f32[64]
      %2, %3 = fused(%0, %1) {kind="elementwise", name="k0"} : f32[64], f32[64] {
        graph @k0(%i0: f32[64], %i1: f32[64]) -> (f32[64], f32[64]) {
          %0 = add(%i0, %i1) : f32[64]
          %1 = tanh(%i1) : f32[64]
          return %0, %1
        }
      }
      %4 = mul(%2, %3) : f32[64]
      return %4
    }
"""


@pytest.mark.parametrize("backend", ["llvm", "cuda"])
def test_a_kernel_with_two_results_overwrites_operands_no_later_result_reads(rewrite, backend):
    # the kernel computes %2 then %3: %2 may take %0 (only it reads %0) but not %1, which %3
    # still reads afterwards; %3 takes %1
    graph = rewrite(["memory_plan"], TWO_RESULTS, """
        graph @m(%x: f32[64], %y: f32[64]) -> f32[64] {
          %0 = exp(%x) : f32[64]  #  | %0 -> b0 @0 (256 B)
          %1 = neg(%y) : f32[64]  #  | %1 -> b1 @256 (256 B)
          %2, %3 = fused(%0, %1) {kind="elementwise", name="k0"} : f32[64], f32[64] {  #  | %2 -> b0 @0 (256 B) in place of %0; %3 -> b1 @256 (256 B) in place of %1
            graph @k0(%i0: f32[64], %i1: f32[64]) -> (f32[64], f32[64]) {
              %0 = add(%i0, %i1) : f32[64]  #  | %0 -> b0 @0 (256 B)
              %1 = tanh(%i1) : f32[64]  #  | %1 -> b1 @256 (256 B)
              return %0, %1
            }
          }
          %4 = mul(%2, %3) : f32[64]  #  | %4 -> b0 @0 (256 B) in place of %2
          return %4
        }
    """)
    check_memory_plan(graph)
    rng = numpy.random.default_rng(2)
    x, y = rng.standard_normal((2, 64)).astype("float32")
    options = {"runtime": "emulator"} if backend == "cuda" else {}
    got = hb.codegen.build(graph, backend, **options)([x, y])[0].asnumpy()
    numpy.testing.assert_allclose(got, (numpy.exp(x) - y) * numpy.tanh(-y), rtol=1e-5, atol=1e-6)
