"""nonzero/flatnonzero/argwhere/unique with JAX's static size= (np_static_size.py): NumPy's
result cut or padded to `size` with fill_value, eagerly (hypothesis over shapes and densities)
and hybridized on interp, llvm and the CUDA emulator; without size= a TracingError names size=."""
import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes

import hybrid as hb
from hybrid import np

OPTIONS = {"cuda": {"runtime": "emulator"}}
BACKENDS = ["interp", "llvm", pytest.param("cuda", marks=pytest.mark.slow)]


def _pad(values, size, fill):
    values = onp.asarray(values)[:size]
    return onp.concatenate([values, onp.full(size - values.size, fill, values.dtype)])


def ref_nonzero(d, size, fill):
    return tuple(_pad(i, size, fill) for i in onp.nonzero(d))


def ref_unique(d, size, fill):
    values, index, inverse, counts = onp.unique(d, return_index=True, return_inverse=True, return_counts=True)
    fill = values[0] if fill is None else fill
    return (_pad(values, size, fill), _pad(index, size, 0), inverse.reshape(d.shape), _pad(counts, size, 0))


def _same(got, want):
    for g, w in zip(got, want):
        g = g.asnumpy()
        assert g.shape == w.shape, (g.shape, w.shape)
        onp.testing.assert_array_equal(g, w)


@settings(max_examples=25, deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5), density=st.floats(0, 1),
       size=st.integers(0, 12), fill=st.integers(-3, 3), seed=st.integers(0, 2 ** 16))
def test_nonzero_size_matches_padded_numpy(shape, density, size, fill, seed):
    d = (onp.random.default_rng(seed).random(shape) < density).astype("float32")
    _same(np.nonzero(np.array(d), size=size, fill_value=fill), ref_nonzero(d, size, fill))
    flat = np.flatnonzero(np.array(d), size=size, fill_value=fill)
    onp.testing.assert_array_equal(flat.asnumpy(), _pad(onp.flatnonzero(d), size, fill))
    rows = np.argwhere(np.array(d), size=size, fill_value=fill).asnumpy()
    onp.testing.assert_array_equal(rows, onp.stack(ref_nonzero(d, size, fill), axis=-1))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 14), distinct=st.integers(1, 6), size=st.integers(1, 9), nans=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_unique_size_matches_padded_numpy(n, distinct, size, nans, seed):
    ints = onp.random.default_rng(seed).integers(0, distinct, n).astype("int32")
    d = ints.astype("float32")
    if nans:
        d[:: 3] = onp.nan
    got = np.unique(np.array(d), return_index=True, return_inverse=True, return_counts=True, size=size)
    _same(got, ref_unique(d, size, None))
    values = np.unique(np.array(ints), size=size, fill_value=-1)
    onp.testing.assert_array_equal(values.asnumpy(), _pad(onp.unique(ints), size, -1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_static_size_forms_compile(backend):
    d = onp.array([[0, 3, 0, 1], [1, 0, 2, 0], [0, 0, 0, 5]], "float32")
    u = onp.array([3, 1, 3, onp.nan, 2, 1, 3, onp.nan], "float32")

    def fn(x, v):
        return np.nonzero(x, size=7, fill_value=-1) + np.unique(v, return_index=True, return_inverse=True,
                                                                return_counts=True, size=5, fill_value=0)
    got = hb.hybridize(fn, backend=backend, **OPTIONS.get(backend, {}))(np.array(d), np.array(u))
    _same(got, ref_nonzero(d, 7, -1) + ref_unique(u, 5, 0))


def test_without_size_traced_is_a_tracing_error_naming_size():
    f = hb.hybridize(lambda x: np.nonzero(x), backend="interp")
    with pytest.raises(hb.TracingError, match="size="):
        f(np.array(onp.ones(3, "float32")))
    g = hb.hybridize(lambda x: np.unique(x), backend="interp")
    with pytest.raises(hb.TracingError, match="size="):
        g(np.array(onp.ones(3, "float32")))
    for name in ("unique_all", "unique_counts", "unique_inverse", "unique_values"):   # the array API's spellings
        h = hb.hybridize(lambda x: getattr(np, name)(x), backend="interp")
        with pytest.raises(hb.TracingError, match=rf"np\.{name} was called(.|\n)*np\.unique\(x, size=N"):
            h(np.array(onp.ones(3, "float32")))
    with pytest.raises(ValueError, match="size must be a non-negative"):
        np.nonzero(np.array(onp.ones(3)), size=-1)
