"""The eager NumPy fast paths (quantiles, nansum, roll, isclose, advanced indexing, and the
log1p/cbrt reference loops) give what the composite from primitives gives, and NumPy's values:
the composite still runs when traced or when autograd records a gradient for the input."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np

CASES = {
    "median": (lambda x: np.median(x, axis=1), lambda d: onp.median(d, axis=1)),
    "quantile": (lambda x: np.quantile(x, [0.1, 0.9], axis=0, method="nearest", keepdims=True),
                 lambda d: onp.quantile(d, [0.1, 0.9], axis=0, method="nearest", keepdims=True)),
    "nanpercentile": (lambda x: np.nanpercentile(x, 30), lambda d: onp.nanpercentile(d, 30)),
    "nansum": (lambda x: np.nansum(x, axis=0), lambda d: onp.nansum(d, axis=0)),
    "roll": (lambda x: np.roll(x, (2, -1), axis=(0, 1)), lambda d: onp.roll(d, (2, -1), axis=(0, 1))),
    "isclose": (lambda x: np.isclose(x, x * 1.000001), lambda d: onp.isclose(d, d * onp.float32(1.000001))),
    "mask": (lambda x: x[x > 0], lambda d: d[d > 0]),
    "int-and-mask": (lambda x: x[[0, 2, 2], 1:], lambda d: d[[0, 2, 2], 1:]),
    "log1p": (lambda x: np.log1p(np.abs(x)), lambda d: onp.log1p(onp.abs(d))),
    "cbrt": (lambda x: np.cbrt(x), lambda d: onp.cbrt(d)),
}


def _data():
    data = onp.random.default_rng(0).standard_normal((5, 7)).astype("float32")
    data[1, 3] = onp.nan
    return data


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_matches_numpy_composite_and_compiled(name):
    fn, ref = CASES[name]
    data = _data() if name.startswith("nan") else onp.nan_to_num(_data())
    want = ref(data)
    fast = fn(np.array(data))
    x = np.array(data)
    x.attach_grad()
    with autograd.record():          # the input is taped: the composite from primitives runs
        composite = fn(x)
    for got in (fast, composite):
        assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
        onp.testing.assert_allclose(got.asnumpy(), want, rtol=2e-6, atol=1e-6)
    if name not in ("mask",):        # x[mask] has a data-dependent shape: eager only
        compiled = hb.hybridize(fn, backend="interp")(np.array(data))
        onp.testing.assert_allclose(compiled.asnumpy(), want, rtol=2e-6, atol=1e-6)


def test_fast_paths_leave_index_errors_to_hybrid():
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 5"):
        np.array(_data())[[0, 9]]
