"""Elementwise np functions: eager vs hybridized (interp) vs NumPy, with broadcasting property
tests over random shapes (sizes 1 and odd sizes included) and float32/int32/bool dtypes."""
import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import hybrid as hb
from hybrid import np

from hb_check import check, sample

SETTINGS = settings(max_examples=25, deadline=None)
SHAPES2 = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=5)
SHAPES3 = mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1, max_side=5)


def _nonzero(x):
    return onp.where(x == 0, onp.ones_like(x), x)


# name -> (hb function, NumPy reference, dtypes, input fix-up for the second operand)
BINARY = {
    "add": (np.add, onp.add, ("float32", "int32"), None),
    "subtract": (np.subtract, onp.subtract, ("float32", "int32"), None),
    "multiply": (np.multiply, onp.multiply, ("float32", "int32"), None),
    "divide": (np.divide, onp.divide, ("float32", "int32"), _nonzero),
    "power": (np.power, onp.power, ("float32", "int32"), onp.abs),
    "mod": (np.mod, onp.mod, ("float32", "int32"), _nonzero),
    "maximum": (np.maximum, onp.maximum, ("float32", "int32", "bool"), None),
    "minimum": (np.minimum, onp.minimum, ("float32", "int32", "bool"), None),
    "equal": (np.equal, onp.equal, ("float32", "int32", "bool"), None),
    "not_equal": (np.not_equal, onp.not_equal, ("float32", "int32", "bool"), None),
    "less": (np.less, onp.less, ("float32", "int32", "bool"), None),
    "less_equal": (np.less_equal, onp.less_equal, ("float32", "int32", "bool"), None),
    "greater": (np.greater, onp.greater, ("float32", "int32", "bool"), None),
    "greater_equal": (np.greater_equal, onp.greater_equal, ("float32", "int32", "bool"), None),
    "logical_and": (np.logical_and, onp.logical_and, ("bool", "float32", "int32"), None),
    "logical_or": (np.logical_or, onp.logical_or, ("bool", "float32", "int32"), None),
    "logical_xor": (np.logical_xor, onp.logical_xor, ("bool", "float32", "int32"), None),
    "floor_divide": (np.floor_divide, onp.floor_divide, ("float32", "int32"), _nonzero),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=SHAPES2, seed=st.integers(0, 2**31 - 1), dtype_index=st.integers(0, 2))
def test_binary_broadcasting(name, shapes, seed, dtype_index):
    fn, ref, dtypes, fix = BINARY[name]
    dtype = dtypes[dtype_index % len(dtypes)]
    rng = onp.random.default_rng(seed)
    a = sample(shapes.input_shapes[0], dtype, rng=rng)
    b = sample(shapes.input_shapes[1], dtype, rng=rng)
    if name == "power" and dtype == "float32":
        a = onp.abs(a) + onp.float32(0.1)  # real powers need a positive base
    if fix is not None:
        b = fix(b)
    expected_dtype = {"divide": "float32"}.get(name, "bool" if ref(a, b).dtype == bool else dtype)
    check(fn, ref, a, b, rtol=2e-6, dtype=expected_dtype)


def test_operators_match_functions():
    a, b = sample((3, 4)), _nonzero(sample((4,)))
    ops = [
        (lambda x, y: x + y, onp.add), (lambda x, y: x - y, onp.subtract), (lambda x, y: x * y, onp.multiply),
        (lambda x, y: x / y, onp.divide), (lambda x, y: x % y, onp.mod), (lambda x, y: abs(x) ** y, None),
        (lambda x, y: x < y, onp.less), (lambda x, y: x <= y, onp.less_equal), (lambda x, y: x > y, onp.greater),
        (lambda x, y: x >= y, onp.greater_equal), (lambda x, y: x == y, onp.equal),
        (lambda x, y: x != y, onp.not_equal), (lambda x, y: -x + (+y), lambda x, y: -x + y),
        (lambda x, y: (x > 0) & (y > 0), lambda x, y: (x > 0) & (y > 0)),
        (lambda x, y: (x > 0) | (y > 0), lambda x, y: (x > 0) | (y > 0)),
        (lambda x, y: ~(x > y), lambda x, y: ~(x > y)),
        (lambda x, y: (x > 0) ^ (y > 0), lambda x, y: (x > 0) ^ (y > 0)),
        (lambda x, y: x // y, onp.floor_divide),
    ]
    for fn, ref in ops:
        check(fn, ref or (lambda x, y: onp.abs(x) ** y), a, b, rtol=2e-6)


@pytest.mark.parametrize("expr, ref, dtype", [
    (lambda x: x + 1, lambda x: x + 1, "int32"),            # int scalar keeps int32
    (lambda x: x * 2.5, lambda x: x * 2.5, "float32"),       # float scalar makes int -> float32
    (lambda x: 2 - x, lambda x: 2 - x, "int32"),             # reflected operators
    (lambda x: 1.0 / (x + 10), lambda x: 1.0 / (x + 10), "float32"),
    (lambda x: x ** 2, lambda x: x ** 2, "int32"),
    (lambda x: onp.float32(3) * x, lambda x: 3.0 * x, "float32"),  # NumPy scalar on the left defers to us
    (lambda x: x / 2, lambda x: x / 2, "float32"),           # true division of ints gives float32
    (lambda x: (x > 0) + 1, lambda x: (x > 0) + 1, "int32"),  # bool + int scalar -> int32
    (lambda x: 17 // _nonzero_hb(x), lambda x: 17 // _nonzero(x), "int32"),
    (lambda x: 7 % _nonzero_hb(x), lambda x: 7 % _nonzero(x), "int32"),
    (lambda x: x // 2, lambda x: x // 2, "int32"),
    (lambda x: True & (x > 0), lambda x: True & (x > 0), "bool"),
    (lambda x: False | (x > 0), lambda x: False | (x > 0), "bool"),
    (lambda x: True ^ (x > 0), lambda x: True ^ (x > 0), "bool"),
])
def test_python_scalar_promotion(expr, ref, dtype):
    check(expr, ref, sample((2, 3), "int32"), dtype=dtype)


def _nonzero_hb(x):
    return np.where(x == 0, 1, x)


def test_float_scalar_keeps_float32():
    check(lambda x: x * 0.1 + 1, lambda x: x * onp.float32(0.1) + 1, sample((5,)), dtype="float32")


def test_mixed_int_float_arrays_give_float32():
    check(np.add, onp.add, sample((3,), "int32"), sample((2, 3)), dtype="float32")


UNARY = {
    # name: (hb fn, NumPy ref, domain fix-up, dtypes)
    "exp": (np.exp, onp.exp, None, ("float32", "int32")),
    "log": (np.log, onp.log, lambda x: onp.abs(x) + 0.1, ("float32",)),
    "sqrt": (np.sqrt, onp.sqrt, onp.abs, ("float32",)),
    "tanh": (np.tanh, onp.tanh, None, ("float32",)),
    "sin": (np.sin, onp.sin, None, ("float32",)),
    "cos": (np.cos, onp.cos, None, ("float32",)),
    "abs": (np.abs, onp.abs, None, ("float32", "int32")),
    "negative": (np.negative, onp.negative, None, ("float32", "int32")),
    "sign": (np.sign, onp.sign, None, ("float32", "int32")),
    "floor": (np.floor, onp.floor, None, ("float32",)),
    "ceil": (np.ceil, onp.ceil, None, ("float32",)),
    "round": (np.round, onp.round, None, ("float32",)),
    "square": (np.square, onp.square, None, ("float32", "int32")),
    "reciprocal": (np.reciprocal, lambda x: 1.0 / x, _nonzero, ("float32",)),
    "log1p": (np.log1p, onp.log1p, onp.abs, ("float32",)),
    "expm1": (np.expm1, onp.expm1, None, ("float32",)),
    "logical_not": (np.logical_not, onp.logical_not, None, ("bool", "float32")),
    "stop_gradient": (np.stop_gradient, lambda x: x, None, ("float32", "int32", "bool")),
    "tan": (np.tan, onp.tan, lambda x: x / 3, ("float32",)),
    "sinh": (np.sinh, onp.sinh, None, ("float32",)),
    "cosh": (np.cosh, onp.cosh, None, ("float32",)),
    "log2": (np.log2, onp.log2, lambda x: onp.abs(x) + 0.1, ("float32",)),
    "log10": (np.log10, onp.log10, lambda x: onp.abs(x) + 0.1, ("float32",)),
    "exp2": (np.exp2, onp.exp2, None, ("float32",)),
    "isnan": (np.isnan, onp.isnan, lambda x: _specials(x, onp.nan, 0.0), ("float32", "int32")),
    "isinf": (np.isinf, onp.isinf, lambda x: _specials(x, onp.inf, -onp.inf), ("float32", "int32")),
    "isfinite": (np.isfinite, onp.isfinite, lambda x: _specials(x, onp.inf, onp.nan), ("float32", "int32")),
}


def _specials(x, high, low):
    """Float data with some large values replaced by `high` and small ones by `low`."""
    if x.dtype.kind != "f":
        return x
    return onp.where(x > 1, high, onp.where(x < -1, low, x))


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=st.lists(st.integers(1, 5), max_size=4).map(tuple), seed=st.integers(0, 2**31 - 1),
       dtype_index=st.integers(0, 2))
def test_unary(name, shape, seed, dtype_index):
    fn, ref, fix, dtypes = UNARY[name]
    dtype = dtypes[dtype_index % len(dtypes)]
    x = sample(shape, dtype, rng=onp.random.default_rng(seed))
    if fix is not None:
        x = fix(x).astype(dtype)
    # transcendental functions of integers compute in float32, as in hb's promotion rules
    expected = (lambda v: ref(v.astype("float32"))) if name == "exp" and dtype == "int32" else ref
    check(fn, expected, x, rtol=2e-6)


@SETTINGS
@given(shapes=SHAPES3, seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from(["float32", "int32", "bool"]))
def test_where_broadcasting(shapes, seed, dtype):
    rng = onp.random.default_rng(seed)
    c, a, b = (sample(s, d, rng=rng) for s, d in zip(shapes.input_shapes, ("bool", dtype, dtype)))
    check(np.where, onp.where, c, a, b, dtype=dtype)


def test_where_with_scalars_and_non_bool_condition():
    x = sample((4, 5))
    check(lambda v: np.where(v > 0, v, 0.0), lambda v: onp.where(v > 0, v, 0.0), x, dtype="float32")
    check(lambda v: np.where(v, 1, 2), lambda v: onp.where(v != 0, 1, 2), sample((3,), "int32"), dtype="int32")


@pytest.mark.parametrize("lo, hi", [(-1.0, 1.0), (None, 0.5), (-0.5, None)])
def test_clip(lo, hi):
    check(lambda v: np.clip(v, lo, hi), lambda v: onp.clip(v, lo, hi), sample((3, 7)), dtype="float32")
    check(lambda v: v.clip(lo, hi), lambda v: onp.clip(v, lo, hi), sample((5,)))
    # the method's keywords are NumPy's and MXNet's min=/max= (d2l's box_iou: `.clip(min=0)`), a_min=/a_max= too
    check(lambda v: v.clip(min=lo, max=hi), lambda v: v.clip(min=lo, max=hi), sample((5,)))
    check(lambda v: v.clip(a_min=lo, a_max=hi), lambda v: onp.clip(v, lo, hi), sample((5,)))
    x, out = sample((4,)), np.zeros((4,))
    assert np.array(x).clip(lo, hi, out) is out
    onp.testing.assert_array_equal(out.asnumpy(), onp.clip(x, lo, hi))


def test_clip_int():
    check(lambda v: np.clip(v, -2, 3), lambda v: onp.clip(v, -2, 3), sample((9,), "int32"), dtype="int32")


def test_ieee_special_values_do_not_raise():
    x = onp.array([0.0, -1.0, 1.0, onp.inf], "float32")
    with onp.errstate(all="ignore"):
        check(np.log, onp.log, x)
        check(lambda v: v / 0.0, lambda v: v / onp.float32(0.0), x)


def test_numpy_arrays_and_lists_are_strongly_typed():
    # a float NumPy array or list meeting an int array promotes to float instead of truncating
    check(lambda v: v + onp.array([0.5, 1.5], "float32"), lambda v: v + onp.float32([0.5, 1.5]),
          sample((3, 2), "int32"), dtype="float32")
    check(lambda v: v * [0.5, 2.0], lambda v: v * onp.float32([0.5, 2.0]), sample((2,), "int32"), dtype="float32")
    check(lambda v: v + onp.float64(0.5), lambda v: v + 0.5, sample((4,), "int32"), dtype="float32")
    # NumPy's float64 default does not widen a float32 computation
    check(lambda v: v * onp.ones(2), lambda v: v * onp.ones(2, "float32"), sample((3, 2)), dtype="float32")
    check(lambda v: v + onp.arange(2), lambda v: v + onp.arange(2, dtype="int32"), sample((2,), "int32"),
          dtype="int32")


def test_incompatible_broadcast_names_op_shapes_and_line():
    a, b = np.ones((2, 3)), np.ones((4,))
    with pytest.raises(hb.ShapeError) as info:
        a + b  # the line the error must name
    msg = str(info.value)
    assert "add" in msg and "(2, 3)" in msg and "(4,)" in msg
    assert "test_np_elementwise.py" in msg and "a + b" in msg


def test_aliases_and_primitive_wrappers():
    x, y = sample((3, 4)), _nonzero(sample((4,)))
    check(np.true_divide, onp.true_divide, x, y)
    check(np.absolute, onp.absolute, x)
    check(lambda v: np.amax(v, 1), lambda v: onp.amax(v, 1), x)
    check(lambda v: np.amin(v, 0), lambda v: onp.amin(v, 0), x)
    check(lambda v: np.concat([v, v], axis=1), lambda v: onp.concatenate([v, v], axis=1), x)
    check(lambda v: np.slice(v, (1, 0), (3, 4), (1, 2)), lambda v: v[1:3, 0:4:2], x)
    assert np.empty((2, 3)).shape == (2, 3) and np.empty_like(np.ones((2,), dtype="int32")).dtype == onp.int32


def test_python_scalar_operands_are_shared_but_never_reach_the_user():
    """An operator's Python scalar becomes one shared read-only 0-d operand per (type, value, dtype)
    (core/promote.py): results stay fresh writable arrays, -0.0 keeps its sign, and bool/int/float scalars of
    equal value stay apart."""
    x = np.array(onp.array([1.0, -2.0], "float32"))
    first = x + 1
    first[0] = 7.0                                   # a result is the caller's own array
    onp.testing.assert_array_equal((x + 1).asnumpy(), [2.0, -1.0])
    onp.testing.assert_array_equal(onp.signbit((x * -0.0).asnumpy()), onp.signbit(onp.float32([1, -2]) * -0.0))
    onp.testing.assert_array_equal(onp.signbit((x * 0.0).asnumpy()), [False, True])
    i = np.array(onp.array([1, 2], "int32"))
    assert (i + True).dtype == onp.int32 and (i + 1.0).dtype == onp.float32 and (i + 1).dtype == onp.int32
    assert np.array(1.0).asnumpy().flags.writeable   # np.array of a scalar is not a shared operand
