"""np.linalg.qr traced: Householder reflections unrolled over the static columns (np_linalg.
_householder_qr), against numpy.linalg.qr (same sign convention as LAPACK) on interp, llvm and
the CUDA emulator, every mode and tall/square/wide/batched shapes, with gradients by finite
differences through the compiled graph."""
import sys
from pathlib import Path

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import assert_scalar_grad  # noqa: E402

OPTIONS = {"cuda": {"runtime": "emulator"}}


@pytest.mark.parametrize("backend", ["interp", "llvm", pytest.param("cuda", marks=pytest.mark.slow)])
@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 5, 3), (3, 1), (1, 3)])
def test_traced_qr_matches_numpy(backend, shape):
    data = onp.random.default_rng(sum(shape)).standard_normal(shape).astype("float32")
    fn = lambda x: np.linalg.qr(x, mode="reduced") + np.linalg.qr(x, mode="complete") + (np.linalg.qr(x, mode="r"),)
    got = hb.hybridize(fn, backend=backend, **OPTIONS.get(backend, {}))(np.array(data))
    want = onp.linalg.qr(data, mode="reduced") + onp.linalg.qr(data, mode="complete") + (onp.linalg.qr(data, mode="r"),)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        onp.testing.assert_allclose(g.asnumpy(), w, rtol=1e-4, atol=2e-5)


def test_traced_qr_keeps_lapack_signs_for_triangular_input():
    data = onp.triu(onp.random.default_rng(3).standard_normal((3, 3))).astype("float32")
    data[1, 1] = -abs(data[1, 1])
    q, r = hb.hybridize(lambda x: np.linalg.qr(x), backend="interp")(np.array(data))
    wq, wr = onp.linalg.qr(data)
    onp.testing.assert_allclose(q.asnumpy(), wq, atol=1e-6)
    onp.testing.assert_allclose(r.asnumpy(), wr, atol=1e-6)


@pytest.mark.parametrize("mode", ["interp", "llvm"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 3)])
def test_traced_qr_gradient_by_finite_differences(mode, shape):
    rng = onp.random.default_rng(7)
    data = rng.standard_normal(shape)
    wq, wr = rng.standard_normal((shape[0], min(shape))), rng.standard_normal((min(shape), shape[1]))

    def fn(x):
        q, r = np.linalg.qr(x)
        return np.sum(q * np.array(wq)) + np.sum(r * np.array(wr))
    assert_scalar_grad(fn, data, mode, rtol=1e-4, atol=1e-6)
