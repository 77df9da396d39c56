"""npx.broadcast_like (MXNet's broadcast_like): values against NumPy's broadcast_to eagerly and hybridized
(interp, llvm), the gradient onto lhs by finite differences, none onto rhs, and the shape errors."""
import sys
from pathlib import Path

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np, npx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import assert_scalar_grad  # noqa: E402

RNG = onp.random.default_rng(17)

# (lhs shape, rhs shape, lhs_axes, rhs_axes, the expected shape)
CASES = [
    ((1, 3), (2, 3), None, None, (2, 3)),                 # MXNet's first documented example
    ((1,), (5,), (0,), (-1,), (5,)),                      # its second: broadcast_like([9], [1..5], (0,), (-1,))
    ((2, 1), (2, 2), 1, 1, (2, 2)),                       # bare ints for the axes (MXNet's test)
    ((2, 1, 4, 1), (2, 8, 4, 9), None, None, (2, 8, 4, 9)),
    ((1, 3, 1), (7, 6), (0, 2), (1, 0), (6, 3, 7)),       # pairs matched in order, rhs of another rank
    ((1, 3, 1), (5, 3, 2), (-3,), (0,), (5, 3, 1)),       # only the named axes grow
    ((1, 2), (0, 2), None, None, (0, 2)),                 # an empty rhs dimension
]


def expected(lhs, shape):
    return onp.broadcast_to(lhs, shape)


@pytest.mark.parametrize("lhs_shape, rhs_shape, lhs_axes, rhs_axes, shape", CASES)
@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_values_eager_and_hybridized(lhs_shape, rhs_shape, lhs_axes, rhs_axes, shape, mode):
    lhs = RNG.uniform(-2, 2, lhs_shape).astype("float32")
    rhs = onp.zeros(rhs_shape, "int32")           # only its shape is read; the result keeps lhs's dtype

    def fn(a, b):
        return npx.broadcast_like(a, b, lhs_axes, rhs_axes)

    run = fn if mode == "eager" else hb.hybridize(fn, backend=mode)
    got = run(np.array(lhs), np.array(rhs))
    assert got.shape == shape and got.dtype == onp.float32
    onp.testing.assert_array_equal(got.asnumpy(), expected(lhs, shape))


@pytest.mark.parametrize("lhs_shape, rhs_shape, lhs_axes, rhs_axes, shape",
                         [c for c in CASES if 0 not in c[4]])
@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_gradient_sums_back_onto_lhs(lhs_shape, rhs_shape, lhs_axes, rhs_axes, shape, mode):
    rhs = np.zeros(rhs_shape)
    weights = np.array(RNG.uniform(-1, 1, shape))   # a weighted sum, so each broadcast copy counts differently

    def loss(a):
        return (npx.broadcast_like(a, rhs, lhs_axes, rhs_axes) * weights).sum()

    assert_scalar_grad(loss, RNG.uniform(-2, 2, lhs_shape), mode, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "interp"])
def test_rhs_gets_a_zero_gradient(mode):
    def fn(a, b):
        return (npx.broadcast_like(a, b) * 2.0).sum()

    run = fn if mode == "eager" else hb.hybridize(fn, backend=mode)
    a, b = np.ones((3, 1)), np.full((3, 4), 5.0)
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        out = run(a, b)
    out.backward()
    onp.testing.assert_array_equal(a.grad.asnumpy(), onp.full((3, 1), 8.0))
    onp.testing.assert_array_equal(b.grad.asnumpy(), onp.zeros((3, 4)))


@pytest.mark.parametrize("lhs_shape, rhs_shape, kwargs, error, message", [
    ((2, 3), (2, 3, 1), {}, hb.errors.ShapeError, r"lhs \(2, 3\) cannot be broadcast like rhs \(2, 3, 1\): without "
                                                   r"lhs_axes/rhs_axes both must have the same number of dim"),
    ((2, 3), (2, 4), {}, hb.errors.ShapeError, r"dimension 1 is 3, neither 1 nor 4"),
    ((1, 3), (4, 3), {"lhs_axes": 0}, ValueError, r"pass both lhs_axes and rhs_axes .* or neither"),
    ((1, 3), (4, 3), {"lhs_axes": (0, 1), "rhs_axes": (0,)}, hb.errors.ShapeError, r"must be non-empty and of one"),
    ((1, 3), (4, 3), {"lhs_axes": (), "rhs_axes": ()}, hb.errors.ShapeError, r"must be non-empty"),
    ((2, 3), (4, 3), {"lhs_axes": 0, "rhs_axes": 0}, hb.errors.ShapeError, r"lhs axis 0 \(size 2\) cannot take "
                                                                            r"size 4 of rhs axis 0"),
    ((1, 3), (4, 3), {"lhs_axes": 2, "rhs_axes": 0}, hb.errors.ShapeError, r"axis pair \(2, 0\) is out of range"),
    ((1, 3), (4, 3), {"lhs_axes": 0, "rhs_axes": -3}, hb.errors.ShapeError, r"axis pair \(0, -3\) is out of range"),
])
def test_errors_name_the_op_the_shapes_and_the_line(lhs_shape, rhs_shape, kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        npx.broadcast_like(np.zeros(lhs_shape), np.zeros(rhs_shape), **kwargs)
    assert "npx.broadcast_like" in str(info.value) and "test_npx_broadcast_like.py" in str(info.value)
