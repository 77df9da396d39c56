"""hb.np.fft's real-valued helpers against numpy.fft: eager, hybridized (interp, llvm, CUDA
emulator in the slow tier) and the gradient of the shifts by finite differences."""
import sys
from pathlib import Path

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import assert_scalar_grad  # noqa: E402

OPTIONS = {"cuda": {"runtime": "emulator"}}


@pytest.mark.parametrize("n, d", [(1, 1.0), (5, 0.1), (8, 2.0)])
def test_frequencies_match_numpy(n, d):
    for ours, theirs in ((np.fft.fftfreq, onp.fft.fftfreq), (np.fft.rfftfreq, onp.fft.rfftfreq)):
        got = ours(n, d)
        assert got.dtype == onp.float32
        onp.testing.assert_allclose(got.asnumpy(), theirs(n, d), rtol=1e-6)
        assert ours(n, d, dtype="float64").dtype == onp.float64


@pytest.mark.parametrize("backend", [None, "interp", "llvm", pytest.param("cuda", marks=pytest.mark.slow)])
@pytest.mark.parametrize("axes", [None, 1, (0, 2)])
def test_shifts_match_numpy(backend, axes):
    data = onp.arange(3 * 4 * 5, dtype="float32").reshape(3, 4, 5)
    fn = lambda x: (np.fft.fftshift(x, axes), np.fft.ifftshift(x, axes))
    run = hb.hybridize(fn, backend=backend, **OPTIONS.get(backend, {})) if backend else fn
    shifted, back = run(np.array(data))
    onp.testing.assert_array_equal(shifted.asnumpy(), onp.fft.fftshift(data, axes))
    onp.testing.assert_array_equal(back.asnumpy(), onp.fft.ifftshift(data, axes))


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_shift_gradient_by_finite_differences(mode):
    data = onp.random.default_rng(0).standard_normal((3, 4))
    weight = onp.random.default_rng(1).standard_normal((3, 4))
    fn = lambda x: np.sum(np.fft.fftshift(x) * np.array(weight))
    assert_scalar_grad(fn, data, mode, rtol=1e-6, atol=1e-8)
