"""Every model of hybrid.model_zoo.ZOO on the LLVM backend against eager mode (the NumPy
references), forward and (for a CNN and the transformer) the gradients of a training step."""
from __future__ import annotations

import numpy as onp
import pytest

from hybrid import autograd, init, np
from hybrid.model_zoo import ZOO, ResNet18

TOL = dict(rtol=1e-4, atol=1e-5)


def _model(name: str, ctor=None, shape=None):
    if ctor is None:
        ctor, shape = ZOO[name]
    np.random.seed(3)
    net = ctor()
    net.initialize(init.Xavier())
    x = onp.random.default_rng(4).normal(size=shape).astype("float32")
    net(np.array(x))
    return net, x


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_forward_matches_eager(name):
    net, x = _model(name)
    eager = net(np.array(x)).asnumpy()
    net.hybridize(backend="llvm")
    got = net(np.array(x)).asnumpy()
    onp.testing.assert_allclose(got, eager, **TOL)
    onp.testing.assert_array_equal(net(np.array(x)).asnumpy(), got)   # cached executable, same answer


def _grads(name: str, backend: str):
    net, x = _model(name)
    net.hybridize(backend=backend)
    with autograd.record():
        y = net(np.array(x))
        loss = (y * y).sum()
    loss.backward()
    return {k: p.grad().asnumpy() for k, p in net.collect_params().items() if p.grad_req != "null"}


@pytest.mark.parametrize("name", ["lenet", "transformer"])
def test_training_step_gradients_match_interp(name):
    ref, got = _grads(name, "interp"), _grads(name, "llvm")
    assert ref.keys() == got.keys() and ref
    for k in ref:
        onp.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-5 * (onp.abs(ref[k]).max() + 1e-6),
                                    err_msg=k)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception", "mlp"])
def test_more_training_gradients(name):
    test_training_step_gradients_match_interp(name)


@pytest.mark.slow
def test_resnet18_forward():
    net, x = _model("resnet18", lambda: ResNet18(classes=10), (2, 3, 32, 32))
    eager = net(np.array(x)).asnumpy()
    net.hybridize(backend="llvm")
    onp.testing.assert_allclose(net(np.array(x)).asnumpy(), eager, **TOL)
