"""Array behaviours MXNet 2's NumPy-style programs rely on, checked against NumPy: formatting,
operator.index, memory order arguments, the Array API namespace by position, .abs(), and DLPack
capsules one may write through."""
import operator

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np, npx


def test_format_and_index_follow_numpy():
    a = np.array(onp.pi)
    assert f"{a:0.3g}" == f"{onp.array(onp.pi, dtype='float32'):0.3g}" == "3.14"
    assert "{}".format(np.array([1.5, 2.0])) == str(np.array([1.5, 2.0]))
    with pytest.raises(TypeError, match="0-d arrays only"):
        "{:10}".format(np.array([1.0]))
    assert operator.index(np.array(3, dtype="int32")) == 3
    for dtype in ("float32", "bool"):
        with pytest.raises(TypeError, match="only integer arrays"):
            operator.index(np.ones((), dtype=dtype))


def test_order_arguments_namespace_and_abs():
    x = np.array([[1.0, -2.0], [3.0, -4.0]])
    assert np.empty((2, 3), order="C").shape == (2, 3)
    onp.testing.assert_array_equal(x.copy(order="C").asnumpy(), x.asnumpy())
    for call in (lambda: np.empty((2,), order="F"), lambda: x.copy(order="F")):
        with pytest.raises(NotImplementedError, match="row-major only"):
            call()
    assert x.__array_namespace__() is np and x.__array_namespace__("2023.12") is np
    with pytest.raises(ValueError, match="not 2020.09"):
        x.__array_namespace__("2020.09")
    onp.testing.assert_array_equal(x.abs().asnumpy(), onp.abs(x.asnumpy()))


def test_dlpack_for_write_shares_writable_memory():
    a = np.arange(6.0).reshape(2, 3)
    view = npx.from_dlpack(npx.to_dlpack_for_write(a))
    view += 1
    onp.testing.assert_array_equal(a.asnumpy(), onp.arange(6.0).reshape(2, 3) + 1)
    torch = pytest.importorskip("torch")
    t = torch.utils.dlpack.from_dlpack(npx.to_dlpack_for_write(a))
    t.mul_(2)
    onp.testing.assert_array_equal(a.asnumpy(), (onp.arange(6.0).reshape(2, 3) + 1) * 2)
    read = npx.from_dlpack(npx.to_dlpack_for_read(a))
    onp.testing.assert_array_equal(read.asnumpy(), a.asnumpy())


def test_reduction_methods_take_numpys_argument_order_and_diagonal():
    """ndarray.sum/mean/prod(axis, dtype, out, keepdims) as NumPy's (and MXNet's), eager and traced."""
    data = onp.arange(24).reshape(2, 3, 4).astype("int8")
    x = np.array(data)
    assert x.sum(1, "int32").dtype == onp.int32
    onp.testing.assert_array_equal(x.sum(axis=1, dtype="int32").asnumpy(), data.sum(axis=1, dtype="int32"))
    onp.testing.assert_allclose(x.mean(0, "float64").asnumpy(), data.mean(0, dtype="float64"))
    onp.testing.assert_array_equal(x.prod(axis=(0, 2), keepdims=True).asnumpy(),
                                   data.prod(axis=(0, 2), keepdims=True))
    out = np.zeros((3, 4), dtype="int8")
    assert x.sum(0, out=out) is out
    onp.testing.assert_array_equal(out.asnumpy(), data.sum(0).astype("int8"))
    onp.testing.assert_array_equal(x.diagonal(1, 1, 2).asnumpy(), onp.diagonal(data, 1, 1, 2))

    @hb.hybridize(backend="interp")
    def f(a):
        return a.sum(axis=0, dtype="float32") + a.diagonal(0, 1, 2).sum()

    onp.testing.assert_allclose(f(x).asnumpy(), data.sum(0, dtype="float32") + onp.diagonal(data, 0, 1, 2).sum())


def test_linspace_retstep_and_ufunc_where():
    values, step = np.linspace(0.0, 2.0, 5, retstep=True)
    want, want_step = onp.linspace(0.0, 2.0, 5, retstep=True)
    onp.testing.assert_allclose(values.asnumpy(), want)
    assert step == want_step
    onp.testing.assert_allclose(np.cos(np.ones(3), where=True).asnumpy(), onp.cos(onp.ones(3, "float32")))
    for fn in (np.cos, np.ceil):
        with pytest.raises(NotImplementedError, match="only where=True"):
            fn(np.ones(3), where=False)


@pytest.mark.parametrize("name", ["sin", "log2", "arccosh", "ceil", "trunc", "abs", "rint", "fix", "degrees",
                                  "radians", "square", "positive"])
@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_unary_ufunc_keywords_at_their_defaults_and_out(name, mode):
    """NumPy's ufunc keywords: their defaults are accepted (MXNet's tests pass subok=True, order='K'),
    `out=` is written and returned, other values raise NotImplementedError naming the op and what
    to write instead, and values NumPy itself rejects raise TypeError (as MXNet's np ufuncs)."""
    values = onp.array([1.25, 2.5, 3.75], "float32")
    fn = getattr(np, name)
    defaults = dict(where=True, casting="same_kind", order="K", dtype=None, subok=True)
    f = (lambda a, o: fn(a, out=o, **defaults)) if mode == "eager" else hb.hybridize(
        lambda a, o: fn(a, out=o, **defaults), backend=mode)
    out = np.zeros(3)
    got = f(np.array(values), out)
    onp.testing.assert_allclose(got.asnumpy(), getattr(onp, name)(values), rtol=1e-6)
    if mode == "eager":
        assert got is out
        onp.testing.assert_allclose(out.asnumpy(), getattr(onp, name)(values), rtol=1e-6)
    x = np.array(values)
    for keyword, value in [("subok", False), ("dtype", onp.int8), ("casting", "safe"), ("order", "C")]:
        with pytest.raises(NotImplementedError, match=rf"np\.{fn.__name__}\({keyword}=.*only {keyword}="):
            fn(x, **{keyword: value})
    for keyword, value in [("dtype", "abcdefg"), ("casting", "mxnet"), ("subokay", True)]:
        with pytest.raises(TypeError, match=fn.__name__):
            fn(x, **{keyword: value})


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "fix"])
def test_rounding_booleans_and_integers_returns_them_unchanged(name):
    """NumPy 2: floor/ceil/trunc of integers and booleans keep the values and the dtype."""
    for values in (onp.array([True, False]), onp.array([-3, 7], "int8")):
        got = getattr(np, name)(np.array(values))
        want = getattr(onp, name)(values)
        assert got.dtype == want.dtype
        onp.testing.assert_array_equal(got.asnumpy(), want)


@pytest.mark.parametrize("name", ["argmax", "argmin", "max", "min", "sum", "prod"])
def test_reductions_of_0d_arrays_take_axis_0_and_minus_1(name):
    """NumPy reduces a 0-d array along axis 0 or -1 (to itself); MXNet's tests rely on it."""
    x = np.array(5.0)
    for axis in (0, -1, None):
        for keepdims in (False, True):
            got = getattr(np, name)(x, axis=axis, keepdims=keepdims)
            want = getattr(onp, name)(onp.array(5.0, "float32"), axis=axis, keepdims=keepdims)
            assert got.shape == onp.shape(want) and float(got) == float(want)
    with pytest.raises(hb.ShapeError, match="axis 1 is out of range for a 0-d array"):
        getattr(np, name)(x, axis=1)
