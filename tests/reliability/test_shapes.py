"""Shapes that used to fail deep inside codegen or fusion: reductions of 0-d values, size-0
arrays through every kind of op, the fusion cycles, and slicing a broadcast too large for memory.
Each runs eagerly, on interp, on llvm at every level and on the CUDA emulator, all agreeing."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np, npx, passes

from .everywhere import assert_same, configurations, gradients, run, run_all

Z = onp.zeros((0, 3), "float32")
CASES = {
    "sum_of_0d": (lambda a: (np.sum(a) + a, np.max(a), np.prod(a * 2)), [onp.array(2.5, "float32")]),
    "prod_of_1d_matmul": (lambda x: np.prod(x @ x), [onp.arange(1, 4, dtype="float32")]),
    "stack_empty": (lambda a: np.stack([a, a]) + 1, [Z]),
    "repeat_empty": (lambda a: np.repeat(a, 2, axis=1) * 2, [Z]),
    "strided_empty_slice": (lambda a: (a[::2] + 1, a[:, 3:0:2] * 2, a[2:1]), [onp.ones((4, 3), "float32")]),
    "matmul_1d_empty": (lambda a: a @ a, [onp.zeros(0, "float32")]),
    "matmul_k0": (lambda a, b: a @ b + 1, [onp.zeros((2, 0), "float32"), onp.zeros((0, 3), "float32")]),
    "reductions_of_empty": (lambda a: (np.sum(a, axis=0), np.prod(a, axis=0), np.max(a, axis=1), np.sum(a)), [Z]),
    "concat_with_empty": (lambda a, b: np.concatenate([a, b], axis=0) * 2, [Z, onp.ones((2, 3), "float32")]),
    "reshape_empty": (lambda a: np.reshape(a, (3, 0)) + 1, [Z]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_d_and_size_zero(name):
    fn, inputs = CASES[name]
    results = run_all(fn, inputs)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    assert_same(results)


def test_fusion_cycle_through_a_bool_cast():
    def f(x):
        b = x.astype("bool")
        y = np.stop_gradient(x)
        return np.where(y > 0, b, x), x, b + y
    results = run_all(f, [onp.array([1.0, -1.0, 0.0, 2.0], "float32")])
    assert not any(isinstance(r, Exception) for r in results.values()), results
    assert_same(results)


@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(1, 4), (1, 4)], [(2, 1, 4), (2, 1, 4)], [(3, 4), (1, 4)]])
def test_fusion_cycle_under_autograd(shapes):
    """The issue's second cycle repro: a mean broadcast back beside its operand, recorded under
    autograd, so the backward graph reads both (outputs and input gradients agree everywhere)."""
    def f(v0, v1):
        m = np.minimum(v1, v0)
        return np.broadcast_to(np.mean(m, 0, keepdims=True), (3, 1, 4)), m
    rng = onp.random.default_rng(16)
    inputs = [rng.standard_normal(shape).astype("float32") for shape in shapes]
    outputs, grads = run_all(f, inputs), run_all(f, inputs, configurations(), runner=gradients)
    assert not any(isinstance(r, Exception) for r in [*outputs.values(), *grads.values()]), (outputs, grads)
    assert_same(outputs, rtol=1e-6)
    assert_same(grads, rtol=1e-6)


def test_fusion_never_merges_around_a_third_kernel():
    """a -> matmul -> b, a -> b directly: merging a and b would put the matmul kernel inside a cycle."""
    def f(x, w):
        a = np.tanh(x)                 # elementwise group
        m = a @ w                      # its own kernel, reads a
        return np.sum(a * 2.0 + m, axis=1), a
    x = onp.random.default_rng(0).standard_normal((4, 4)).astype("float32")
    assert_same(run_all(f, [x, x.T.copy()]), rtol=1e-6)


def _huge_broadcast_slices(a, b):
    """The issue's case, a slice of a slice, and one inside a control-flow region."""
    first = np.broadcast_to(a, (3, 2 ** 31 + 7))[:, -3:]
    second = np.broadcast_to(b, (2, 5, 2 ** 31 + 7))[1:, ::2][..., 2 ** 31:]
    third = npx.cond(np.max(a) > 0, lambda x: np.broadcast_to(x, (3, 2 ** 31 + 7))[:, :2] * 2.0,
                     lambda x: np.broadcast_to(x, (3, 2 ** 31 + 7))[:, 5:7], [a])
    return first, second, third


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_no_opt_level_materializes_a_broadcast_it_slices(level):
    """Checked on the optimized graph first (before anything runs: a regression would ask for 24 GiB)."""
    a = onp.arange(3, dtype="float32").reshape(3, 1)
    b = onp.arange(5, dtype="float32").reshape(5, 1)
    graph = hb.trace(_huge_broadcast_slices, a, b)

    def values(g):
        for n in g.nodes:
            yield from n.outputs
            for r in n.regions:
                yield from values(r)
    optimized = passes.optimize(graph, opt_level=level, freeze=True).graph
    biggest = max(v.type.nbytes for v in values(optimized))
    assert biggest < 1024, f"opt level {level} still computes a {biggest}-byte value:\n{optimized}"
    f = hb.hybridize(_huge_broadcast_slices, backend="llvm", opt_level=level)
    n = 2 ** 31 + 7
    wants = (onp.broadcast_to(a, (3, n))[:, -3:], onp.broadcast_to(b, (2, 5, n))[1:, ::2][..., 2 ** 31:],
             onp.broadcast_to(a, (3, n))[:, :2] * 2.0)
    for got, want in zip(f(a, b), wants):
        onp.testing.assert_array_equal(got.asnumpy(), want)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_slicing_a_huge_broadcast_slices_first(level):
    a = onp.arange(3, dtype="float32").reshape(3, 1)
    f = hb.hybridize(lambda a: np.broadcast_to(a, (3, 2 ** 31 + 7))[:, -3:], backend="llvm", opt_level=level)
    onp.testing.assert_array_equal(f(a).asnumpy(), onp.broadcast_to(a, (3, 2 ** 31 + 7))[:, -3:])
    assert "broadcast_to" in f.ir() and "2147483655" not in f.ir().split("broadcast_to")[-1].split("\n")[0]


def test_eager_broadcast_is_a_read_only_view_as_in_numpy():
    a = np.arange(3, dtype="float32").reshape(3, 1)
    huge = np.broadcast_to(a, (3, 2 ** 31 + 7))          # 24 GiB if materialized
    onp.testing.assert_array_equal(huge[:, -3:].asnumpy(), onp.broadcast_to(a.asnumpy(), (3, 3)))
    small = np.broadcast_to(a, (3, 2))
    with pytest.raises(ValueError, match="read-only.*x.copy"):
        small += 1
    with pytest.raises(ValueError, match="read-only"):
        small[0] = 5
    writable = small.copy()
    writable += 1
    onp.testing.assert_array_equal(writable.asnumpy(), onp.broadcast_to(a.asnumpy(), (3, 2)) + 1)
    assert (a.asnumpy() == onp.arange(3).reshape(3, 1)).all()


@pytest.mark.parametrize("make", [lambda m: m.tile(m.arange(3.0), (2, 1)),
                                  lambda m: m.repeat(m.arange(3.0)[:, None], 2, axis=1),
                                  lambda m: m.meshgrid(m.arange(3.0), m.arange(2.0))[1]])
def test_functions_numpy_documents_as_new_arrays_stay_writable(make):
    ours, numpys = make(np), make(onp)
    ours[0] = 7
    numpys[0] = 7
    onp.testing.assert_array_equal(ours.asnumpy(), numpys)


def test_slice_of_broadcast_rewrite_keeps_values():
    x = onp.random.default_rng(1).standard_normal((4, 1, 5)).astype("float32")
    fn = lambda a: (np.broadcast_to(a, (2, 4, 6, 5))[1:, ::-2, 2:5, 1::2] * 3.0,   # noqa: E731
                    np.broadcast_to(a, (4, 3, 5))[:, 1:1])
    assert_same(run_all(fn, [x]))
