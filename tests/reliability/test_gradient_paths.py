"""A head with no differentiable path to anything that wants a gradient: eager backward() raises,
and a hybridized function recorded under autograd must raise the same way instead of handing
back zero gradients (a fuzzer find). Outputs that do have a path keep their gradients."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np

MODES = ["eager", "interp", "llvm"]


def _compiled(fn, mode):
    return fn if mode == "eager" else hb.hybridize(fn, backend=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cut", [lambda a: np.stop_gradient(a) * 2,
                                 lambda a: (a > 0).astype("float32") + 1,
                                 lambda a: np.floor(a.astype("int32") * 1.0)])
def test_backward_without_a_path_raises_in_every_mode(mode, cut):
    x = np.array([0.5, -1.0, 2.0])
    x.attach_grad()
    f = _compiled(cut, mode)
    with autograd.record():
        y = f(x)
    with pytest.raises(hb.HybridError, match="no recorded computation that depends on an array with a gradient"):
        y.backward()


@pytest.mark.parametrize("mode", MODES)
def test_connected_output_keeps_its_gradient_beside_a_cut_one(mode):
    x = np.array([0.5, -1.0, 2.0])
    x.attach_grad()
    f = _compiled(lambda a: (a * a, np.stop_gradient(a) + 1), mode)
    with autograd.record():
        squared, cut = f(x)
    squared.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * x.asnumpy(), rtol=1e-6)
    with pytest.raises(hb.HybridError):
        cut.backward()
