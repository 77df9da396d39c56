"""Reductions (axis/keepdims) and matmul/dot: eager vs hybridized (interp) vs NumPy."""
import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st

import hybrid as hb
from hybrid import np

from hb_check import check, sample

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def shape_and_axis(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)))
    return shape, axis


REDUCTIONS = {
    "sum": (np.sum, onp.sum, ("float32", "int32", "bool")),
    "max": (np.max, onp.max, ("float32", "int32", "bool")),
    "min": (np.min, onp.min, ("float32", "int32", "bool")),
    "prod": (np.prod, onp.prod, ("float32", "int32")),
    "mean": (np.mean, onp.mean, ("float32", "int32")),
    "var": (np.var, onp.var, ("float32",)),
    "std": (np.std, onp.std, ("float32",)),
    "any": (np.any, onp.any, ("bool", "float32", "int32")),
    "all": (np.all, onp.all, ("bool", "float32", "int32")),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=st.integers(0, 2**31 - 1), dtype_index=st.integers(0, 2))
def test_reduction(name, case, keepdims, seed, dtype_index):
    fn, ref, dtypes = REDUCTIONS[name]
    shape, axis = case
    dtype = dtypes[dtype_index % len(dtypes)]
    rng = onp.random.default_rng(seed)
    low, high = (0.5, 1.5) if name == "prod" else (-3.0, 3.0)  # keep products well scaled
    x = sample(shape, dtype, low=low, high=high, rng=rng)
    if name == "prod" and dtype == "int32":
        x = onp.clip(x, -2, 2)
    # NumPy sums and multiplies booleans and integers in the platform integer (int64)
    platform = "int64" if dtype in ("bool", "int32") else dtype
    expected_dtype = {"sum": platform, "prod": platform, "any": "bool", "all": "bool"}.get(
        name, "float32" if name in ("mean", "var", "std") else dtype)

    def reference(v):
        result = ref(v, axis=axis, keepdims=keepdims)
        return onp.asarray(result).astype(expected_dtype)
    check(lambda v: fn(v, axis=axis, keepdims=keepdims), reference, x, rtol=1e-5, atol=1e-5, dtype=expected_dtype)


@pytest.mark.parametrize("name", ["sum", "max", "min", "prod", "mean", "var", "std", "any", "all"])
def test_reduction_methods(name):
    x = sample((3, 4, 5), low=0.5, high=1.5)
    check(lambda v: getattr(v, name)(axis=(0, 2), keepdims=True),
          lambda v: getattr(v, name)(axis=(0, 2), keepdims=True), x, rtol=1e-5)
    check(lambda v: getattr(v, name)(), lambda v: getattr(onp, name)(v), x, rtol=1e-5)


@SETTINGS
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_argmax_argmin(case, keepdims, seed):
    shape, axis = case
    if isinstance(axis, tuple):
        axis = axis[0]
    x = sample(shape, rng=onp.random.default_rng(seed))
    keep = keepdims and axis is not None
    check(lambda v: np.argmax(v, axis=axis, keepdims=keep), lambda v: onp.argmax(v, axis=axis, keepdims=keep),
          x, dtype="int64")
    check(lambda v: np.argmin(v, axis=axis, keepdims=keep), lambda v: onp.argmin(v, axis=axis, keepdims=keep),
          x, dtype="int64")
    check(lambda v: v.argmax(axis), lambda v: v.argmax(axis), x)
    check(lambda v: v.argmin(axis), lambda v: v.argmin(axis), x)


def test_var_std_ddof():
    x = sample((4, 6))
    check(lambda v: np.var(v, axis=1, ddof=1), lambda v: onp.var(v, axis=1, ddof=1), x, rtol=1e-5)
    check(lambda v: np.std(v, axis=0, ddof=1), lambda v: onp.std(v, axis=0, ddof=1), x, rtol=1e-5)
    # the methods take NumPy's (and MXNet's) arguments too: d2l's statistics chapter calls samples.std(ddof=1)
    check(lambda v: v.std(ddof=1), lambda v: v.std(ddof=1), x, rtol=1e-5)
    check(lambda v: v.var(1, None, None, 1, True), lambda v: v.var(1, None, None, 1, True), x, rtol=1e-5)
    check(lambda v: v.std(axis=0, correction=2), lambda v: v.std(axis=0, ddof=2), x, rtol=1e-5)
    out = np.zeros((6,))
    assert np.array(x).var(axis=0, out=out) is out
    onp.testing.assert_allclose(out.asnumpy(), x.var(axis=0), rtol=1e-5)


def test_reduction_axis_out_of_range():
    with pytest.raises(hb.ShapeError, match="axis 2 is out of range for a 2-d array"):
        np.sum(np.ones((2, 3)), axis=2)


# -- matmul / dot -------------------------------------------------------------------------------
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)),                  # 1-d . 1-d -> scalar
    ((3,), (3, 5)),                # vector-matrix
    ((4, 3), (3,)),                # matrix-vector
    ((4, 3), (3, 5)),
    ((1, 1), (1, 1)),
    ((2, 4, 3), (3, 5)),           # batched with a broadcast matrix
    ((2, 1, 4, 3), (5, 3, 7)),     # batch dims broadcast against each other
    ((3,), (2, 3, 5)),             # vector against a batch
    ((2, 4, 3), (3,)),
])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_matmul(a_shape, b_shape, dtype):
    a, b = sample(a_shape, dtype), sample(b_shape, dtype)
    check(np.matmul, onp.matmul, a, b, rtol=1e-5, atol=1e-5, dtype=dtype)
    check(lambda x, y: x @ y, lambda x, y: x @ y, a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("a_shape, b_shape", [((3,), (3,)), ((4, 3), (3, 2)), ((4, 3), (3,)), ((3,), (3, 2)),
                                              ((2, 5, 3), (3, 4)), ((), (2, 3)), ((2, 3), ()),
                                              ((3,), (2, 3, 4)), ((2, 3), (5, 3, 2)), ((2, 1, 3), (4, 3, 5))])
def test_dot(a_shape, b_shape):
    a, b = sample(a_shape), sample(b_shape)
    check(np.dot, onp.dot, a, b, rtol=1e-5, atol=1e-5)
    if a_shape:
        check(lambda x, y: x.dot(y), lambda x, y: x.dot(y), a, b, rtol=1e-5, atol=1e-5)


def test_rmatmul_with_numpy_on_the_left():
    a, b = sample((2, 3)), sample((3, 4))
    check(lambda y: a @ y, lambda y: a @ y, b, rtol=1e-5)


@pytest.mark.parametrize("a_shape, b_shape", [((4, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (3, 4, 5))])
def test_matmul_shape_error_names_op_and_shapes(a_shape, b_shape):
    with pytest.raises(hb.ShapeError) as info:
        np.matmul(np.ones(a_shape), np.ones(b_shape))
    msg = str(info.value)
    assert "matmul" in msg and "test_np_reduce_linalg.py" in msg, msg


def test_dot_alignment_error():
    with pytest.raises(hb.ShapeError, match=r"dot: shapes \(2, 3\) and \(4, 2, 5\) are not aligned"):
        np.dot(np.ones((2, 3)), np.ones((4, 2, 5)))


def test_matmul_of_scalars_is_an_error():
    with pytest.raises(hb.ShapeError, match="matmul.*scalar"):
        np.matmul(np.ones(()), np.ones((2, 2)))


def _norm_compiled(fn, mode):
    return fn if mode == "eager" else hb.hybridize(fn, backend=mode)


def _vector_norm_reference(a: onp.ndarray, axis: tuple, ord) -> onp.ndarray:
    """The norm of the elements of `axis` taken as one vector: those axes moved last and merged."""
    rest = [i for i in range(a.ndim) if i not in axis]
    merged = onp.transpose(a, rest + list(axis)).reshape([a.shape[i] for i in rest] + [-1])
    return onp.linalg.norm(merged, ord=ord, axis=-1)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("ord", [None, 2, 1, "inf", "-inf", 3.5])
def test_vector_norm_over_several_axes(mode, ord):
    """The array API's vector_norm over a tuple of axes; ord=None is 2 and MXNet's 'inf'/'-inf' strings
    are the infinite orders."""
    data = sample((2, 3, 4, 5), "float64")
    numpy_ord = {"inf": onp.inf, "-inf": -onp.inf, None: 2}.get(ord, ord)
    for axis in [(1, 3), (0, -1, 2)]:
        f = _norm_compiled(lambda x: np.linalg.vector_norm(x, axis=axis, ord=ord), mode)
        want = _vector_norm_reference(data, tuple(a % 4 for a in axis), numpy_ord)
        onp.testing.assert_allclose(f(np.array(data)).asnumpy(), want, rtol=1e-10)
    keep = _norm_compiled(lambda x: np.linalg.vector_norm(x, axis=(1, 3), keepdims=True, ord=ord), mode)
    assert keep(np.array(data)).shape == (2, 1, 4, 1)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("ord", [None, "fro", 1, -1, "inf", "-inf", "nuc", 2])
def test_matrix_norm_over_chosen_axes(mode, ord):
    """MXNet's matrix_norm(x, ord, axis, keepdims): the matrices lie in the two axes `axis` names."""
    data = sample((3, 4, 5), "float64")
    numpy_ord = {"inf": onp.inf, "-inf": -onp.inf, None: "fro"}.get(ord, ord)
    for axis, keepdims in [((0, 2), False), ((2, 1), True), ((-2, -1), False)]:
        f = _norm_compiled(lambda x: np.linalg.matrix_norm(x, ord, axis, keepdims), mode)
        want = onp.linalg.norm(data, ord=numpy_ord, axis=axis, keepdims=keepdims)
        onp.testing.assert_allclose(f(np.array(data)).asnumpy(), want, rtol=1e-8)
    onp.testing.assert_allclose(np.linalg.matrix_norm(np.array(data), ord=ord).asnumpy(),
                                onp.linalg.norm(data, ord=numpy_ord, axis=(-2, -1)), rtol=1e-8)


@pytest.mark.parametrize("axis", [1, (1,), (0, 1, 2), None])
def test_matrix_norm_needs_a_pair_of_axes(axis):
    with pytest.raises(ValueError, match=r"matrix_norm: axis must be a pair of axes.*vector_norm"):
        np.linalg.matrix_norm(np.ones((2, 3, 4)), "fro", axis)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_a_reduction_into_a_narrower_float_rounds_once(mode, name):
    """sum/prod(x_f32, dtype='float16') accumulate at float32 and round the result once (MXNet's and
    PyTorch's rule): within one float16 ulp of the exact value, where accumulating 4096 terms in float16
    (spacing 2 above 2048) would lose most of them."""
    rng = onp.random.default_rng(8)
    data = (rng.uniform(0.0, 1.0, (2, 4096)) if name == "sum" else rng.uniform(0.999, 1.001, (2, 4096)))
    data = data.astype("float32")
    f = _norm_compiled(lambda x: getattr(np, name)(x, axis=1, dtype="float16"), mode)
    got = f(np.array(data))
    assert got.dtype == onp.float16
    exact = getattr(onp, name)(data.astype("float64"), axis=1)
    onp.testing.assert_array_less(onp.abs(got.asnumpy().astype("float64") - exact),
                                  onp.spacing(exact.astype("float16")).astype("float64") * 1.01)
