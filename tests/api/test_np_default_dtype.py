"""NumPy's default dtypes on request (MXNet's use_np_default_dtype / np_default_dtype /
npx.set_np(dtype=True)): inside the scope creation without a dtype gives what NumPy gives
(float64 / int64), outside hybrid's float32 / int32; the scope restores the previous setting."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import np, npx
from hybrid.util import np_default_dtype, use_np_default_dtype

CREATIONS = [
    ("ones", (4,), {}), ("zeros", ((2, 3),), {}), ("eye", (3,), {"k": 1}), ("identity", (3,), {}),
    ("linspace", (2.0, 3.0), {"num": 5}), ("logspace", (2.0, 3.0), {"num": 4, "base": 2.0}),
    ("hanning", (5,), {}), ("hamming", (5,), {}), ("blackman", (5,), {}), ("array", ([1.5, 2.0],), {}),
    ("full", ((2,), 0.5), {}), ("arange", (3, 7, 2), {}), ("arange", (0.0, 1.0, 0.25), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CREATIONS, ids=[f"{c[0]}{i}" for i, c in enumerate(CREATIONS)])
def test_creation_follows_numpy_inside_the_scope(name, args, kwargs):
    expected = getattr(onp, name)(*args, **kwargs)
    with np_default_dtype():
        inside = getattr(np, name)(*args, **kwargs)
    outside = getattr(np, name)(*args, **kwargs)
    assert inside.dtype == expected.dtype                           # NumPy's float64 / int64
    onp.testing.assert_allclose(inside.asnumpy(), expected, rtol=1e-15)
    assert outside.dtype == {"f": onp.float32, "i": onp.int32}[expected.dtype.kind]


def test_random_division_and_mean():
    ints = np.array([1, 2, 3], dtype="int64")
    with np_default_dtype():
        assert np.random.uniform(-1, 1, size=3).dtype == onp.float64
        assert np.random.normal(0, 1, 3).dtype == onp.float64
        assert np.random.gamma(3.0, size=2).dtype == onp.float64
        assert (ints / 4).dtype == onp.float64 and np.mean(ints).dtype == onp.float64
        onp.testing.assert_allclose(np.mean(ints).asnumpy(), 2.0)
        assert (np.ones(2, dtype="float32") * 1.5).dtype == onp.float32   # arrays keep their dtype
    assert np.random.uniform(size=2).dtype == onp.float32 and (ints / 4).dtype == onp.float32


def test_decorator_set_np_and_nesting():
    @use_np_default_dtype
    def make():
        return np.zeros(2)

    assert make().dtype == onp.float64 and np.zeros(2).dtype == onp.float32

    @use_np_default_dtype
    class Maker:
        def build(self):
            return np.ones(1)

    assert Maker().build().dtype == onp.float64
    with np_default_dtype():
        with np_default_dtype(False):
            assert np.ones(1).dtype == onp.float32
        assert np.ones(1).dtype == onp.float64 and npx.is_np_default_dtype()
    npx.set_np(dtype=True)
    try:
        assert np.array([1, 2]).dtype == onp.int64 and hb.util.is_np_default_dtype()
    finally:
        npx.reset_np()
    assert np.array([1, 2]).dtype == onp.int32 and not npx.is_np_default_dtype()
