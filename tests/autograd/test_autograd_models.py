"""Every model_zoo.ZOO model: parameter gradients from the eager tape against central finite
differences (float64 parameters and inputs, training mode, a few entries per parameter), and
the hybridized (CachedOp) gradients against the eager ones."""
from __future__ import annotations

import numpy as onp
import pytest

from hybrid import autograd, np
from hybrid.model_zoo import ZOO

from gradcheck import numeric_grad

ENTRIES_PER_PARAM = 3


def to_float64(net) -> None:
    for p in net.collect_params().values():
        p.dtype = onp.dtype("float64")
        p._set_array(p._data_eager()._data.astype(onp.float64))


def build(name: str, seed: int = 0):
    ctor, shape = ZOO[name]
    net = ctor()
    net.initialize()
    rng = onp.random.default_rng(seed)
    x = np.array(rng.standard_normal(shape).astype(onp.float32))
    with autograd.pause():
        net(x)  # deferred shapes
    for p in net.collect_params().values():
        p.set_data(rng.uniform(-0.3, 0.3, p.shape) + (1.0 if p.name.endswith(("gamma", "running_var")) else 0.0))
    return net, x


@pytest.mark.parametrize("name", sorted(ZOO))
def test_parameter_gradients_match_finite_differences(name):
    net, x = build(name)
    to_float64(net)
    x = np.array(x.asnumpy().astype(onp.float64))
    rng = onp.random.default_rng(1)
    with autograd.train_mode():
        weight = rng.standard_normal(net(x).shape)

    def objective():
        with autograd.train_mode():
            return float((net(x).asnumpy() * weight).sum())

    with autograd.record():
        loss = (net(x) * weight).sum()
    loss.backward()
    trainable = {k: p for k, p in net.collect_params().items() if p.grad_req != "null"}
    assert trainable
    for key, p in trainable.items():
        data = p._data_eager()._data
        entries = rng.choice(data.size, min(ENTRIES_PER_PARAM, data.size), replace=False)
        expected = numeric_grad(objective, data, eps=1e-6, entries=entries).reshape(-1)[entries]
        actual = p.grad().asnumpy().reshape(-1)[entries]
        onp.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", sorted(ZOO))
def test_hybridized_gradients_equal_eager(name):
    grads, outputs = [], []
    for hybridize in (False, True):
        net, x = build(name, seed=5)
        x.attach_grad()
        if hybridize:
            net.hybridize(backend="interp")
        with autograd.record():
            out = net(x)
            loss = (out * out).sum()
        loss.backward()
        if hybridize:
            assert net._compiled.training_cache, "the compiled forward/backward pair was not used"
            assert net._compiled.last.executable.built is None, "the unused inference executable was built"
        outputs.append(out.asnumpy())
        grads.append({k: p.grad().asnumpy() for k, p in net.collect_params().items() if p.grad_req != "null"})
        grads[-1]["<input>"] = x.grad.asnumpy()
    onp.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    for key in grads[0]:
        onp.testing.assert_allclose(grads[1][key], grads[0][key], rtol=1e-4, atol=1e-5, err_msg=f"{name}: {key}")
