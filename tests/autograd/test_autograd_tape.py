"""The eager tape's API (attach_grad, backward, grad, detach, grad_req) and its error messages."""
from __future__ import annotations

import numpy as onp
import pytest

from hybrid import autograd, np, npx
from hybrid.errors import HybridError, ShapeError

from gradcheck import numeric_grad

RNG = onp.random.default_rng(3)


def leaf(*shape, grad_req="write"):
    x = np.array(RNG.standard_normal(shape))
    x.attach_grad(grad_req)
    return x


def test_backward_writes_grad():
    x, w = leaf(4, 3), leaf(3, 2)
    with autograd.record():
        y = (np.tanh(x @ w) * 2.0).sum()
    y.backward()
    t = onp.tanh(x.asnumpy() @ w.asnumpy())
    onp.testing.assert_allclose(w.grad.asnumpy(), x.asnumpy().T @ (2 * (1 - t * t)), rtol=1e-12)
    onp.testing.assert_allclose(x.grad.asnumpy(), (2 * (1 - t * t)) @ w.asnumpy().T, rtol=1e-12)


def test_grad_req_add_accumulates_and_write_overwrites():
    a, b = leaf(3, grad_req="add"), leaf(3, grad_req="write")
    for _ in range(2):
        with autograd.record():
            y = (a * b).sum()
        y.backward()
    onp.testing.assert_allclose(a.grad.asnumpy(), 2 * b.asnumpy())
    onp.testing.assert_allclose(b.grad.asnumpy(), a.asnumpy())


def test_grad_req_null_and_detach_stop_gradients():
    x, frozen = leaf(3), leaf(3, grad_req="null")
    with autograd.record():
        y = (x * frozen + x.detach() * x + np.stop_gradient(x) * 3.0).sum()
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), frozen.asnumpy() + x.asnumpy())
    assert frozen.grad is None


def test_head_grad_and_multiple_uses():
    x = leaf(2, 3)
    head = np.array(RNG.standard_normal((2, 3)))
    with autograd.record():
        y = x * x + x
    y.backward(head)
    onp.testing.assert_allclose(x.grad.asnumpy(), head.asnumpy() * (2 * x.asnumpy() + 1))


def test_autograd_grad_returns_and_leaves_dot_grad_alone():
    x = leaf(3)
    with autograd.record():
        y = (np.exp(x) * x).sum()
    (gx,) = autograd.grad(y, [x])
    onp.testing.assert_allclose(gx.asnumpy(), onp.exp(x.asnumpy()) * (1 + x.asnumpy()))
    assert not x.grad.asnumpy().any()


def test_pause_and_training_flags():
    x = leaf(3)
    assert not autograd.is_recording() and not autograd.is_training()
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        y = x * 2.0
        with autograd.pause():
            assert not autograd.is_recording()
            z = x * 5.0
        total = (y + z).sum()
    total.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), onp.full(3, 2.0))


@pytest.mark.parametrize("name,fn", [
    ("softmax", lambda x: npx.softmax(x, axis=-1)),
    ("log_softmax", lambda x: npx.log_softmax(x, axis=0)),
    ("layer_norm", lambda x: npx.layer_norm(x, np.array(onp.linspace(0.5, 1.5, 5)), np.array(onp.ones(5)))),
    ("gelu_tanh", lambda x: npx.gelu(x, approximate="tanh")),
    ("gelu_erf", lambda x: npx.gelu(x)),
    ("softplus", npx.softplus),
    ("var", lambda x: np.var(x, axis=1)),
    ("indexing", lambda x: x[1:, ::-2] * x[0, :3]),
    ("batch_norm", lambda x: npx.batch_norm(np.reshape(x, (2, 2, 5, 1)), np.array(onp.ones(2)),
                                            np.array(onp.zeros(2)), None, None, use_batch_stats=True)[0]),
])
def test_composites_match_finite_differences(name, fn):
    x = leaf(4, 5)
    weight = RNG.standard_normal(fn(x).shape)
    with autograd.record():
        y = (fn(x) * weight).sum()
    y.backward()
    expected = numeric_grad(lambda: float((fn(x).asnumpy() * weight).sum()), x._data)
    onp.testing.assert_allclose(x.grad.asnumpy(), expected, rtol=1e-6, atol=1e-8, err_msg=name)


# -- errors ----------------------------------------------------------------------------------------
def test_backward_outside_record_is_a_clear_error():
    x = leaf(3)
    y = (x * 2.0).sum()
    with pytest.raises(HybridError, match=r"no recorded computation.*autograd\.record\(\)"):
        y.backward()


def test_backward_on_non_scalar_head_uses_ones_like_mxnet():
    x = leaf(2, 3)
    with autograd.record():
        y = x * x
    y.backward()  # d sum(y) / dx
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * x.asnumpy(), rtol=1e-6)
    with autograd.record():
        y = x * x
    (g,) = autograd.grad(y, [x])
    onp.testing.assert_allclose(g.asnumpy(), 2 * x.asnumpy(), rtol=1e-6)
    with autograd.record():
        y = x * 2.0
    with pytest.raises(ShapeError, match=r"head_grad 0 has shape \(3,\) but its head has shape \(2, 3\)"):
        y.backward(np.ones((3,)))


def test_grad_of_unattached_variable_is_a_clear_error():
    x, free = leaf(3), np.array(onp.ones(3))
    with autograd.record():
        y = (x * free).sum()
    with pytest.raises(HybridError, match=r"variable 0 \(f64\[3\]\) is not attached.*attach_grad\(\)"):
        autograd.grad(y, [free])


def test_second_backward_needs_retain_graph():
    x = leaf(3)
    with autograd.record():
        y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * x.asnumpy())
    with pytest.raises(HybridError, match="freed by a previous backward unless retain_graph=True"):
        y.backward()


def test_attach_grad_rejects_unknown_grad_req():
    with pytest.raises(ValueError, match="grad_req must be one of"):
        np.ones(3).attach_grad("sometimes")
