"""Every differentiable registry op: its gradient rule (run by the eager tape) against central
finite differences in float64, with broadcasting, strides, padding, dilation, groups and
transposes exercised; second-order gradients through convolution and pooling."""
from __future__ import annotations

import numpy as onp
import pytest

from hybrid import autograd
from hybrid.errors import HybridError
from hybrid.core.array import NDArray
from hybrid.core.dispatch import bind
from hybrid.ir.registry import all_ops

from gradcheck import numeric_grad

RNG = onp.random.default_rng(7)


def normal(*shape):
    return RNG.standard_normal(shape)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def cnormal(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def away_from_zero(*shape):
    return RNG.uniform(0.3, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


def index(*shape, high=5):
    return RNG.integers(0, high, shape).astype(onp.int32)


CONV = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
POOL = dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1))

# op name -> list of (inputs, attrs); integer/bool inputs are operands without gradients.
CASES = {
    "neg": [([normal(3, 4)], {})],
    "abs": [([away_from_zero(3, 4)], {})],
    "exp": [([normal(3, 4)], {})],
    "log": [([positive(3, 4)], {})],
    "sqrt": [([positive(3, 4)], {})],
    "rsqrt": [([positive(3, 4)], {})],
    "tanh": [([normal(3, 4)], {})],
    "sigmoid": [([normal(3, 4)], {})],
    "relu": [([away_from_zero(3, 4)], {})],
    "erf": [([normal(3, 4)], {})],
    "sin": [([normal(3, 4)], {})],
    "cos": [([normal(3, 4)], {})],
    "expm1": [([normal(3, 4)], {})],
    "log1p": [([positive(3, 4)], {})],
    "sinh": [([normal(3, 4) * 4], {})],
    "arcsinh": [([normal(3, 4) * 4], {})],
    "add": [([normal(3, 4), normal(4)], {}), ([normal(3, 1), normal(1, 4)], {})],
    "sub": [([normal(3, 1), normal(2, 3, 4)], {})],
    "mul": [([normal(2, 3, 4), normal(3, 1)], {})],
    "div": [([normal(3, 4), away_from_zero(4)], {})],
    "pow": [([positive(3, 4), normal(4)], {})],
    "maximum": [([normal(3, 4), normal(4)], {})],
    "minimum": [([normal(3, 4), normal(3, 1)], {})],
    "where": [([RNG.random((3, 4)) < 0.5, normal(3, 4), normal(4)], {})],
    "cast": [([normal(3, 4)], {"dtype": "f64"})],
    "sum": [([normal(2, 3, 4)], {"axes": (0, 2), "keepdims": False}),
            ([normal(2, 3, 4)], {"axes": (1,), "keepdims": True})],
    "prod": [([away_from_zero(2, 3, 4)], {"axes": (1,), "keepdims": False})],
    "max": [([normal(2, 3, 4)], {"axes": (0, 2), "keepdims": False})],
    "min": [([normal(2, 3, 4)], {"axes": (2,), "keepdims": True})],
    "reshape": [([normal(2, 3, 4)], {"shape": (6, 4)})],
    "transpose": [([normal(2, 3, 4)], {"perm": (2, 0, 1)})],
    "broadcast_to": [([normal(3, 1)], {"shape": (2, 3, 4)})],
    "slice": [([normal(7, 5)], {"begin": (1, 0), "end": (7, 5), "step": (3, 2)}),
              ([normal(4, 6)], {"begin": (1, 2), "end": (3, 5), "step": (1, 1)})],
    "concat": [([normal(2, 3), normal(2, 1), normal(2, 4)], {"axis": 1})],
    "pad": [([normal(2, 3)], {"pads": (1, 0, 2, 3), "value": 0.5})],
    "take": [([normal(5, 3), index(2, 4)], {"axis": 0}), ([normal(2, 5, 3), index(6)], {"axis": 1}),
             ([normal(4, 5), index(3)], {"axis": 1})],
    # every factor of the packed output is weighted (signs are locally constant); eigh reads one triangle.
    # full_matrices only on a square matrix: the completing columns of a non-square one get no gradient
    "svd": [([normal(5, 3)], {"full_matrices": False}), ([normal(2, 3, 4)], {"full_matrices": False}),
            ([normal(3, 3)], {"full_matrices": True}), ([normal(4, 3)], {"full_matrices": False, "compute_uv": False})],
    "eigh": [([normal(4, 4)], {"uplo": "L"}), ([normal(2, 3, 3)], {"uplo": "U"})],
    "matmul": [([normal(3, 4), normal(4, 5)], {"transpose_a": False, "transpose_b": False}),
               ([normal(4, 3), normal(5, 4)], {"transpose_a": True, "transpose_b": True}),
               ([normal(2, 3, 4), normal(5, 4)], {"transpose_a": False, "transpose_b": True}),
               ([normal(4, 3), normal(2, 1, 4, 5)], {"transpose_a": True, "transpose_b": False})],
    "conv2d": [([normal(2, 4, 7, 8), normal(6, 2, 3, 2)], CONV),
               ([normal(1, 2, 9, 6), normal(3, 2, 2, 3)], dict(stride=(3, 2), padding=(2, 0), dilation=(1, 1),
                                                               groups=1)),
               ([normal(1, 3, 5, 5), normal(2, 3, 3, 3)], dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                                                               groups=1))],
    "max_pool2d": [([normal(2, 3, 7, 6)], POOL),
                   ([normal(1, 2, 8, 8)], dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0)))],
    "avg_pool2d": [([normal(2, 3, 7, 6)], dict(POOL, count_include_pad=True)),
                   ([normal(2, 3, 7, 6)], dict(POOL, count_include_pad=False))],
    "to_blocked": [([normal(2, 5, 3, 4)], {"block": 4, "pad": (1, 2)})],
    "from_blocked": [([normal(2, 2, 5, 8, 4)], {"channels": 7, "pad": (1, 2)})],
    "conv2d_blocked": [([normal(2, 2, 7, 8, 4), normal(3, 6, 3, 2)], {"stride": (2, 1), "dilation": (1, 2)})],
    "conv2d_input_grad": [([normal(2, 6, 4, 10), normal(6, 2, 3, 2)], dict(CONV, input_shape=(2, 4, 7, 8)))],
    "conv2d_weight_grad": [([normal(2, 4, 7, 8), normal(2, 6, 4, 10)], dict(CONV, weight_shape=(6, 2, 3, 2)))],
    "avg_pool2d_grad": [([normal(2, 3, 4, 4)], dict(POOL, count_include_pad=False, input_shape=(2, 3, 7, 6)))],
    "take_grad": [([normal(2, 4, 3), index(2, 4)], {"axis": 0, "size": 5})],
    # NumPy's further ufuncs (hybrid/ir/ops/ufuncs.py)
    **{name: [([normal(3, 4)], {})] for name in ("arctan", "arcsinh", "tan", "sinh", "cosh", "expm1", "exp2")},
    **{name: [([RNG.uniform(-0.9, 0.9, (3, 4))], {})] for name in ("arcsin", "arccos", "arctanh", "log1p")},
    **{name: [([positive(3, 4)], {})] for name in ("log2", "log10")},
    "arccosh": [([RNG.uniform(1.2, 3.0, (3, 4))], {})],
    "cbrt": [([away_from_zero(3, 4)], {})],
    **{name: [([normal(3, 4), away_from_zero(4)], {})] for name in ("arctan2", "hypot", "logaddexp", "logaddexp2",
                                                                     "fmax", "fmin")},
    "copysign": [([away_from_zero(3, 4), away_from_zero(3, 4)], {})],
    # complex numbers (hybrid/ir/ops/complex.py): cotangents d/d re + i d/d im
    "real": [([cnormal(3, 4)], {})],
    "imag": [([cnormal(3, 4)], {})],
    "conj": [([cnormal(3, 4)], {})],
    "fft": [([cnormal(3, 8)], {"inverse": False}), ([cnormal(2, 5)], {"inverse": True})],
    "rfft": [([normal(3, 8)], {}), ([normal(2, 7)], {})],
    "irfft": [([cnormal(3, 5)], {"n": 8}), ([cnormal(2, 5)], {"n": 9}), ([cnormal(2, 5)], {"n": 6})],
    "view_real": [([cnormal(3, 4)], {})],
    "view_complex": [([normal(3, 4, 2)], {})],
}

# Ops holomorphic in complex operands: the tape conjugates around their real rules (core/tape.py).
UNARY_HOLOMORPHIC = ["exp", "log", "sqrt", "tanh", "expm1", "log1p", "sinh", "arcsinh", "sin", "cos", "tan", "cosh",
                     "log2", "log10", "exp2", "arctan", "arcsin", "arccos", "arccosh", "arctanh", "neg"]
COMPLEX_CASES = {
    **{name: [([cnormal(3, 4)], {})] for name in UNARY_HOLOMORPHIC},
    "abs": [([cnormal(3, 4)], {})],
    "add": [([cnormal(3, 4), cnormal(4)], {})],
    "sub": [([cnormal(3, 1), cnormal(1, 4)], {})],
    "mul": [([cnormal(2, 3, 4), cnormal(3, 1)], {})],
    "div": [([cnormal(3, 4), cnormal(4) + 2], {})],
    "pow": [([cnormal(3, 4) + 2, cnormal(4)], {})],
    "matmul": [([cnormal(3, 4), cnormal(5, 4)], {"transpose_a": False, "transpose_b": True})],
    "sum": [([cnormal(2, 3, 4)], {"axes": (0, 2), "keepdims": False})],
    "cast": [([cnormal(3, 4)], {"dtype": "f64"}), ([normal(3, 4)], {"dtype": "c128"})],
    "where": [([RNG.random((3, 4)) < 0.5, cnormal(3, 4), cnormal(4)], {})],
    "slice": [([cnormal(7, 5)], {"begin": (1, 0), "end": (7, 5), "step": (3, 2)})],
    "pad": [([cnormal(2, 3)], {"pads": (1, 0, 2, 3), "value": 0.5})],
    "concat": [([cnormal(2, 3), cnormal(2, 1)], {"axis": 1})],
    "take": [([cnormal(5, 3), index(2, 4)], {"axis": 0})],
    "transpose": [([cnormal(2, 3, 4)], {"perm": (2, 0, 1)})],
    "reshape": [([cnormal(2, 3, 4)], {"shape": (6, 4)})],
    "broadcast_to": [([cnormal(3, 1)], {"shape": (2, 3, 4)})],
}

# Differentiable ops whose gradient rule is deliberately absent (tested to raise instead).
NO_RULE = {"max_pool2d_grad"}

def test_every_differentiable_op_is_checked():
    differentiable = {name for name, op in all_ops().items() if op.differentiable}
    assert differentiable - NO_RULE == set(CASES), "add a finite-difference case for every differentiable op"


def _check(op, inputs, attrs):
    arrays = [NDArray(onp.array(x)) for x in inputs]
    floats = [a for a in arrays if a.dtype.kind in "fc"]
    for a in floats:
        a.attach_grad()
    out = bind(op, *arrays, **attrs)
    weight = (cnormal if out.dtype.kind == "c" else normal)(*out.shape)

    def objective():     # real: the real part of a complex weighted sum
        return float((bind(op, *arrays, **attrs).asnumpy() * weight).sum().real)

    with autograd.record():
        loss = (bind(op, *arrays, **attrs) * NDArray(weight)).sum()
        if loss.dtype.kind == "c":
            loss = bind("real", loss)
    loss.backward()
    for i, a in enumerate(floats):
        expected = numeric_grad(objective, a._data)
        onp.testing.assert_allclose(a.grad.asnumpy(), expected, rtol=1e-6, atol=1e-7,
                                    err_msg=f"{op} input {i} with {attrs}")


@pytest.mark.parametrize("op,index", [(op, i) for op, cases in CASES.items() for i in range(len(cases))])
def test_gradient_matches_finite_differences(op, index):
    inputs, attrs = CASES[op][index]
    _check(op, inputs, attrs)


@pytest.mark.parametrize("op,index", [(op, i) for op, cases in COMPLEX_CASES.items() for i in range(len(cases))])
def test_complex_gradient_matches_finite_differences(op, index):
    inputs, attrs = COMPLEX_CASES[op][index]
    _check(op, inputs, attrs)


def test_integer_and_bool_inputs_get_no_gradient():
    x = NDArray(normal(5, 3))
    idx = NDArray(index(4))
    x.attach_grad()
    idx.attach_grad()
    cond = NDArray(RNG.random((5, 3)) < 0.5)
    cond.attach_grad()
    with autograd.record():
        y = bind("take", x, idx, axis=0).sum() + bind("where", cond, x, x).sum()
    y.backward()
    assert not idx.grad.asnumpy().any() and not cond.grad.asnumpy().any()
    expected = onp.bincount(idx.asnumpy(), minlength=5)[:, None] + onp.ones((5, 3))
    onp.testing.assert_allclose(x.grad.asnumpy(), expected)


def test_second_order_through_conv():
    """grad with create_graph=True is itself differentiable (grad-of-grad vs finite differences)."""
    x, w = NDArray(normal(1, 2, 5, 5)), NDArray(normal(3, 2, 3, 3))
    x.attach_grad()
    w.attach_grad()
    attrs = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)

    def inner_grad_norm():
        with autograd.record():
            y = bind("tanh", bind("conv2d", x, w, **attrs)).sum()
            gx = autograd.grad(y, x, create_graph=True)
            return (gx * gx).sum()

    z = inner_grad_norm()
    z.backward()
    expected = numeric_grad(lambda: float(inner_grad_norm().asnumpy()), w._data)
    onp.testing.assert_allclose(w.grad.asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_max_pool_ties_go_to_the_first_maximum():
    x = NDArray(onp.ones((1, 1, 4, 4)))
    x.attach_grad()
    with autograd.record():
        y = bind("max_pool2d", x, kernel=(2, 2), stride=(2, 2), padding=(0, 0)).sum()
    y.backward()
    expected = onp.zeros((4, 4))
    expected[::2, ::2] = 1.0
    onp.testing.assert_array_equal(x.grad.asnumpy()[0, 0], expected)


def test_op_without_rule_raises():
    x, g = NDArray(normal(1, 1, 4, 4)), NDArray(normal(1, 1, 2, 2))
    g.attach_grad()
    with autograd.record():
        y = bind("max_pool2d_grad", x, g, kernel=(2, 2), stride=(2, 2), padding=(0, 0)).sum()
    with pytest.raises(HybridError, match="max_pool2d_grad.*no gradient rule"):
        y.backward()


@pytest.mark.parametrize("op,attrs", [("avg_pool2d", dict(POOL, count_include_pad=False))])
def test_second_order_through_pooling(op, attrs):
    x = NDArray(normal(1, 2, 6, 5))
    x.attach_grad()

    def inner():
        with autograd.record():
            y = (bind(op, bind("sin", x), **attrs) ** 2.0).sum()
            gx = autograd.grad(y, x, create_graph=True)
            return (gx * x).sum()

    inner().backward()
    expected = numeric_grad(lambda: float(inner().asnumpy()), x._data)
    onp.testing.assert_allclose(x.grad.asnumpy(), expected, rtol=1e-5, atol=1e-7)
