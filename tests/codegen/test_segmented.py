"""Graphs with ops with effects (allreduce) on every backend: split into pure segments around
them, built per segment, and equal to the interp oracle; the passes keep such ops."""
import numpy
import pytest

from hybrid import codegen, passes
from hybrid.codegen import segmented
from hybrid.ir import parse
from hybrid.ir.ops import collective

TEXT = """graph @step(%x: f32[4,8], %w: f32[8,8], %v: f32[8,3]) -> (f32[4,3], f32[8,8], f32[8,3]) {
  %0 = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[4,8]
  %1 = tanh(%0) : f32[4,8]
  %2 = matmul(%1, %v) {transpose_a=false, transpose_b=false} : f32[4,3]
  %3 = matmul(%1, %2) {transpose_a=true, transpose_b=false} : f32[8,3]
  %4 = allreduce(%3) {reduce="sum", bucket=0} : f32[8,3]
  %5 = matmul(%x, %1) {transpose_a=true, transpose_b=false} : f32[8,8]
  %6 = allreduce(%5) {reduce="sum", bucket=1} : f32[8,8]
  %7 = mul(%6, %6) : f32[8,8]
  %8 = exp(%4) : f32[8,3]
  return %2, %7, %8
}"""


class Doubling:
    """A stand-in communicator: two ranks holding the same data (sum doubles, avg keeps)."""

    def __init__(self):
        self.calls = []

    def iallreduce(self, buffer, op):
        self.calls.append(buffer.size)
        return Finished(buffer * 2 if op == "sum" else buffer)


class Finished:
    def __init__(self, value):
        self.value = value

    def wait(self):
        return self.value


@pytest.fixture
def doubling():
    comm = Doubling()
    collective.set_communicator(comm)
    yield comm
    collective.set_communicator(None)


def inputs():
    rng = numpy.random.default_rng(0)
    return [rng.standard_normal(s).astype(numpy.float32) for s in ((4, 8), (8, 8), (8, 3))]


def expected(x, w, v):
    h = numpy.tanh(x @ w)
    y = h @ v
    return y, (2 * (x.T @ h)) ** 2, numpy.exp(2 * (h.T @ y))


def test_cleanup_passes_keep_allreduce_ops_that_nothing_reads_and_never_merge_two():
    graph = parse("""graph @g(%x: f32[4]) -> f32[4] {
  %0 = exp(%x) : f32[4]
  %1 = allreduce(%0) {reduce="sum", bucket=0} : f32[4]
  %2 = allreduce(%0) {reduce="sum", bucket=0} : f32[4]
  return %0
}""")
    cleaned = passes.optimize(graph, opt_level=1).graph
    assert str(cleaned).count("= allreduce(%") == 2     # unread (DCE keeps them), identical (CSE keeps both)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_split_executable_equals_numpy_and_sends_each_bucket_once(doubling, backend):
    graph = parse(TEXT)
    optimized = passes.optimize(graph, opt_level=2).graph
    executable = codegen.build(optimized, backend)
    assert isinstance(executable, segmented.SegmentedExecutable)
    assert len(executable.segments) == 3
    for got, want in zip(executable(inputs()), expected(*inputs())):
        numpy.testing.assert_allclose(numpy.asarray(got), want, rtol=1e-4, atol=1e-4)
    assert doubling.calls == [24, 64]


def test_segments_run_only_what_each_bucket_needs_first():
    segments, effects = segmented.split(parse(TEXT))
    ops = [[n.op for n in part.graph.nodes] for part in segments]
    # before bucket 0: the forward and bucket 0's gradient; bucket 1's matmul waits for the next segment
    assert ops == [["matmul", "tanh", "matmul", "matmul"], ["matmul"], ["mul", "exp"]]
    assert [n.attrs["bucket"] for n in effects] == [0, 1]


def test_without_a_communicator_a_single_process_reduces_to_itself():
    executable = codegen.build(passes.optimize(parse(TEXT), opt_level=2).graph, "interp")
    x, w, v = inputs()
    h = numpy.tanh(x @ w)
    y = h @ v
    got = executable(inputs())
    numpy.testing.assert_allclose(got[1], (x.T @ h) ** 2, rtol=1e-4, atol=1e-4)
    numpy.testing.assert_allclose(got[2], numpy.exp(h.T @ y), rtol=1e-4, atol=1e-4)
