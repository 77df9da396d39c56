"""MXNet's index-based optimizer API (hybrid/gluon/optimizer/indexed.py): create_state_multi_precision
and update_multi_precision write in place, count updates per index, apply lr/wd multipliers, keep
MXNet's state layout, and run optimizers written against MXNet's step(); test_utils.compare_optimizer."""
import math

import numpy as onp
import pytest

import hybrid as mx
from hybrid import gluon, nd
from hybrid.test_utils import compare_optimizer


def _arrays(seed, shape=(3, 4)):
    rng = onp.random.default_rng(seed)
    return rng.uniform(size=shape).astype(onp.float32), rng.uniform(size=shape).astype(onp.float32)


def test_sgd_momentum_in_place_with_multipliers():
    w0, g = _arrays(0)
    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5, clip_gradient=0.2)
    opt.set_lr_mult({0: 2.0})
    opt.set_wd_mult({0: 3.0})
    w = nd.array(w0)
    state = opt.create_state_multi_precision(0, w)
    assert state.shape == w.shape                   # one momentum array, not a tuple (MXNet's layout)
    mom, ref = onp.zeros_like(w0), w0.copy()
    for _ in range(3):
        opt.update_multi_precision([0], [w], [nd.array(g)], [state])
        grad = onp.clip(g * 0.5, -0.2, 0.2) + 0.03 * ref
        mom = 0.9 * mom - 0.2 * grad
        ref = ref + mom
    onp.testing.assert_allclose(w.asnumpy(), ref, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(state.asnumpy(), mom, rtol=1e-5, atol=1e-6)
    assert opt._index_update_count == {0: 3} and opt.num_update == 3


def test_adam_counts_per_index_and_param_dict_multipliers():
    w0, g = _arrays(1)
    p = gluon.Parameter("w", shape=w0.shape, lr_mult=0.5, wd_mult=0.0)
    opt = mx.optimizer.Adam(learning_rate=0.01, wd=0.1, param_dict={0: p})
    w, other = nd.array(w0), nd.array(w0)
    states = [opt.create_state_multi_precision(i, a) for i, a in enumerate((w, other))]
    assert isinstance(states[0], tuple) and len(states[0]) == 2      # (mean, var)
    opt.update_multi_precision([0], [w], [nd.array(g)], [states[0]])
    opt.update_multi_precision([0, 1], [w, other], [nd.array(g), nd.array(g)], states)
    assert opt._index_update_count == {0: 2, 1: 1}

    def adam(weight, steps, lr, wd):
        m = v = onp.zeros_like(weight)
        for t in range(1, steps + 1):
            grad = g + wd * weight
            m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad * grad
            weight = weight - lr * (m / (1 - 0.9 ** t)) / (onp.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return weight
    onp.testing.assert_allclose(w.asnumpy(), adam(w0, 2, 0.005, 0.0), rtol=1e-5)
    onp.testing.assert_allclose(other.asnumpy(), adam(w0, 1, 0.01, 0.1), rtol=1e-5)


def test_multi_precision_keeps_a_float32_master_copy():
    w0, g = _arrays(2)
    opt = mx.optimizer.SGD(learning_rate=0.1, multi_precision=True)
    w = nd.array(w0.astype(onp.float16))
    master, inner = opt.create_state_multi_precision(0, w)
    assert master.dtype == onp.float32 and inner is None
    opt.update_multi_precision([0], [w], [nd.array(g.astype(onp.float16))], [(master, inner)])
    expected = w0.astype(onp.float16).astype(onp.float32) - 0.1 * g.astype(onp.float16).astype(onp.float32)
    onp.testing.assert_allclose(master.asnumpy(), expected, rtol=1e-6)
    assert w.dtype == onp.float16
    onp.testing.assert_array_equal(w.asnumpy(), expected.astype(onp.float16))


class PlainSGD(mx.optimizer.Optimizer):
    """Written against MXNet's API: create_state(index, weight) and an in-place step()."""

    def create_state(self, index, weight):
        return None

    def step(self, indices, weights, grads, states):
        for index, weight, grad in zip(indices, weights, grads):
            self._update_count(index)
            weight[:] = weight - self._get_lr(index) * (grad * self.rescale_grad + self._get_wd(index) * weight)


@pytest.mark.parametrize("dtype", [onp.float32, onp.float16])
def test_mxnet_style_subclass_matches_builtin(dtype):
    options = {"learning_rate": 0.05, "wd": 0.02, "rescale_grad": 0.7, "multi_precision": dtype == onp.float16}
    compare_optimizer(PlainSGD(**options), mx.optimizer.SGD(**options), [(3, 4), (5,)], dtype,
                      rtol=1e-3 if dtype == onp.float16 else 1e-5, atol=1e-3 if dtype == onp.float16 else 1e-6)


def test_compare_optimizer_detects_a_different_rule():
    with pytest.raises(AssertionError):
        compare_optimizer(PlainSGD(learning_rate=0.05), mx.optimizer.SGD(learning_rate=0.06), [(4, 4)], onp.float32)


def test_noise_seeded_comparison_and_schedule_conflict():
    from hybrid.test_utils import compare_optimizer_noise_seeded
    compare_optimizer_noise_seeded(mx.optimizer.SGLD(learning_rate=0.01), mx.optimizer.SGLD(learning_rate=0.01),
                                   [(6, 2)], onp.float32, noise_seed=7)
    opt = mx.optimizer.SGD(lr_scheduler=mx.lr_scheduler.FactorScheduler(step=1))
    with pytest.raises(UserWarning, match="schedule"):
        opt.set_learning_rate(0.5)
    assert math.isclose(mx.optimizer.Adam(lazy_update=True).learning_rate, 0.001)
