"""Layer-wise trust-ratio optimizers for large batches, with MXNet's update rules:

    LARS: lr_layer = lr * eta ||w|| / (||g|| + wd ||w|| + eps) (lr unchanged when a norm is 0, and
          for parameters named *gamma, *beta, *bias); then SGD with momentum:
          m = momentum m - lr_layer (g + wd w);  w += m
    LAMB: m, v as Adam; u = m_hat / (sqrt(v_hat) + eps) + wd w (bias correction optional);
          r = ||w|| (clipped to [lower_bound, upper_bound]) / ||u|| (1 when either is 0);  w -= lr r u
    LANS: g normalized by its norm, then LAMB-like steps on the momentum part (weight b1) and on
          the normalized gradient (weight 1 - b1), each with its own trust ratio.
"""
from __future__ import annotations

from typing import Optional

from ...frontend import np
from .base import Optimizer, register, zeros_state

_NO_TRUST_RATIO = ("gamma", "beta", "bias")


def _norm(a):
    return np.sqrt(np.sum(a * a))


def _trust_ratio(numerator, denominator):
    """numerator / denominator, or 1 where either is 0 (no NaN even eagerly)."""
    ok = (numerator > 0) & (denominator > 0)
    return np.where(ok, numerator / np.where(ok, denominator, 1.0), 1.0)


class _TrustRatio(Optimizer):
    default_lr = 0.001

    def __init__(self, learning_rate=None, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-6,
                 lower_bound: Optional[float] = None, upper_bound: Optional[float] = None, **options):
        super().__init__(learning_rate, **options)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def create_state(self, weight):
        return zeros_state(weight, 2)

    def _weight_norm(self, weight):
        r1 = _norm(weight)
        if self.lower_bound is not None:
            r1 = np.maximum(r1, self.lower_bound)
        if self.upper_bound is not None:
            r1 = np.minimum(r1, self.upper_bound)
        return r1

    def _moments(self, grad, state):
        mean = state[0] * self.beta1 + grad * (1.0 - self.beta1)
        var = state[1] * self.beta2 + grad * grad * (1.0 - self.beta2)
        return mean, var


@register
class LAMB(_TrustRatio):
    def __init__(self, learning_rate=None, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-6,
                 lower_bound: Optional[float] = None, upper_bound: Optional[float] = None, bias_correction: bool = True,
                 **options):
        super().__init__(learning_rate, beta1, beta2, epsilon, lower_bound, upper_bound, **options)
        self.bias_correction = bias_correction

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        mean, var = self._moments(grad, state)
        if self.bias_correction:
            step = (mean / (1.0 - self.beta1 ** t)) / (np.sqrt(var / (1.0 - self.beta2 ** t)) + self.epsilon)
        else:
            step = mean / (np.sqrt(var) + self.epsilon)
        step = step + weight * self.decay(wd)
        ratio = _trust_ratio(self._weight_norm(weight), _norm(step))
        return weight - step * (ratio * lr), (mean, var)


@register
class LANS(_TrustRatio):
    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        if self.rescale_grad != 1.0:
            grad = grad * self.rescale_grad
        grad = grad / _norm(grad)
        if self.clip_gradient is not None:
            grad = np.clip(grad, -self.clip_gradient, self.clip_gradient)
        wd = self.decay(wd)
        mean, var = self._moments(grad, state)
        r1 = self._weight_norm(weight)
        denom = np.sqrt(var / (1.0 - self.beta2 ** t)) + self.epsilon
        step = (mean / (1.0 - self.beta1 ** t)) / denom + weight * wd
        weight = weight - step * (_trust_ratio(r1, _norm(step)) * lr * self.beta1)
        step = grad / denom + weight * wd  # the second part sees the weight after the first
        weight = weight - step * (_trust_ratio(r1, _norm(step)) * lr * (1.0 - self.beta1))
        return weight, (mean, var)


@register
class LARS(Optimizer):
    default_lr = 0.1

    def __init__(self, learning_rate=None, momentum: float = 0.0, eta: float = 0.001, epsilon: float = 1e-8,
                 lazy_update: bool = False, **options):
        super().__init__(learning_rate, **options)
        self.momentum, self.eta, self.epsilon = float(momentum), float(eta), float(epsilon)

    def create_state(self, weight):
        return zeros_state(weight, 1 if self.momentum else 0)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        wd = self.decay(wd)
        if not (name or "").endswith(_NO_TRUST_RATIO):
            w_norm = _norm(weight)
            g_norm = _norm(grad * self.rescale_grad)
            scale = self.eta * w_norm / (g_norm + w_norm * wd + self.epsilon)  # finite: epsilon > 0
            use = np.astype((w_norm > 0) & (g_norm > 0), weight.dtype)
            lr = lr * (scale * use + (1.0 - use))
        grad = self.preprocess(grad)
        if wd:
            grad = grad + weight * wd
        if not self.momentum:
            return weight - grad * lr, ()
        mom = state[0] * self.momentum - grad * lr
        return weight + mom, (mom,)
