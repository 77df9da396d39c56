"""Eager ops above the size threshold run compiled single-op kernels (frontend/eager_kernels.py): from the
second call of a signature, equal to the NumPy reference within the documented tolerances."""
from __future__ import annotations

import numpy
import pytest

import hybrid as hb
from hybrid import autograd, np, npx
from hybrid.core import dispatch
from hybrid.frontend import eager_kernels
from hybrid.ir.registry import get_op

rng = numpy.random.default_rng(7)


@pytest.fixture
def kernels(monkeypatch):
    """A fresh cache with thresholds low enough for small test arrays."""
    fresh = eager_kernels.EagerKernels()
    monkeypatch.setattr(dispatch, "eager_kernels", fresh)
    monkeypatch.setattr(eager_kernels, "MIN_ELEMENTS", 512)
    monkeypatch.setattr(eager_kernels, "MIN_FLOPS", 1 << 30)
    return fresh


def _conv_args():
    x = rng.standard_normal((2, 4, 12, 12)).astype("f4")
    w = rng.standard_normal((8, 4, 3, 3)).astype("f4")
    return x, w


def test_conv_compiles_on_second_call_and_matches_reference(kernels):
    x, w = _conv_args()
    expected = get_op("conv2d").ref(x, w, stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1)
    first = npx.convolution(np.array(x), np.array(w), stride=2, padding=1)
    assert not kernels.kernels                      # the first sighting runs the reference
    second = npx.convolution(np.array(x), np.array(w), stride=2, padding=1)
    assert [k[0] for k in kernels.kernels] == ["conv2d"]
    numpy.testing.assert_array_equal(first.asnumpy(), expected)
    numpy.testing.assert_allclose(second.asnumpy(), expected, rtol=1e-4, atol=1e-4)
    third = npx.convolution(np.array(x), np.array(w), stride=2, padding=1)
    assert len(kernels.kernels) == 1                # cached: same op, attributes and types
    numpy.testing.assert_allclose(third.asnumpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["exp", "tanh", "sum", "max_pool2d"])
def test_other_kinds_match_reference(kernels, name):
    x = rng.standard_normal((4, 8, 16, 16)).astype("f4")
    run = {"exp": lambda a: np.exp(a), "tanh": lambda a: np.tanh(a),
           "sum": lambda a: np.sum(a, axis=1),
           "max_pool2d": lambda a: npx.pooling(a, kernel=2, stride=2, pool_type="max")}[name]
    results = [run(np.array(x)).asnumpy() for _ in range(3)]
    assert kernels.kernels, "no kernel was compiled"
    numpy.testing.assert_allclose(results[2], results[0], rtol=1e-4, atol=1e-4)


def test_small_and_non_float32_arrays_keep_the_reference(kernels):
    small = np.array(numpy.ones((4, 4), "f4"))
    ints = np.array(numpy.ones((64, 64), "i4"))
    doubles = np.array(numpy.ones((64, 64), "f8"))
    for _ in range(3):
        np.exp(small)
        ints + ints
        np.exp(doubles)
    assert not kernels.kernels


def test_disabled_runs_the_reference(kernels):
    x = np.array(rng.standard_normal((32, 32)).astype("f4"))
    with hb.config(eager_compile=False):
        for _ in range(3):
            np.exp(x)
    assert not kernels.kernels


def test_gradients_through_compiled_eager_conv(kernels):
    x, w = _conv_args()
    grads = []
    for _ in range(3):
        xa, wa = np.array(x), np.array(w)
        xa.attach_grad()
        wa.attach_grad()
        with autograd.record():
            loss = (npx.convolution(xa, wa, padding=1) ** 2).sum()
        loss.backward()
        grads.append((xa.grad.asnumpy(), wa.grad.asnumpy()))
    assert any(k[0] == "conv2d" for k in kernels.kernels)
    for got, want in zip(grads[2], grads[0]):       # compiled (third) vs reference (first)
        numpy.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_profiler_reports_compiled_eager_op_once(kernels):
    x = np.array(rng.standard_normal((64, 64)).astype("f4"))
    np.exp(x)
    np.exp(x)                                        # compiled now
    with hb.profiler.profile() as p:
        np.exp(x)
    assert [e.category for e in p.events] == ["op"] and p.events[0].name == "exp"
