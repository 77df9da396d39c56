"""SGD relatives with MXNet's update rules:

    Signum: with momentum: m = momentum m - (1-momentum)(g + wd w);  w = (1 - lr wd_lh) w + lr sign(m)
            without:       w = (1 - lr (wd + wd_lh)) w - lr sign(g)
    SGLD:   w = w - lr/2 (g + wd w) + N(0, sqrt(lr))   (Langevin dynamics: gradient step plus noise)
    DCASGD: d = g + wd w + lamda g'^2 (w - w_prev) with g' = g + wd w;  m = momentum m - lr d (m = -lr d
            without momentum);  w_prev = w;  w += m
    Ftrl:   (no wd on the gradient) z += g - (sqrt(n + g^2) - sqrt(n)) w / lr;  n += g^2;
            w = -sign(z) max(|z| - lamda1, 0) / ((beta + sqrt(n)) / lr + wd)
"""
from __future__ import annotations

from ...frontend import np
from .base import Optimizer, register, zeros_state


@register
class Signum(Optimizer):
    default_lr = 0.01

    def __init__(self, learning_rate=None, momentum: float = 0.9, wd_lh: float = 0.0, **options):
        super().__init__(learning_rate, **options)
        self.momentum, self.wd_lh = float(momentum), float(wd_lh)

    def create_state(self, weight):
        return zeros_state(weight, 1 if self.momentum else 0)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        if not self.momentum:
            return weight * (1.0 - lr * (wd + self.wd_lh)) - np.sign(grad) * lr, ()
        mom = state[0] * self.momentum - (grad + weight * wd) * (1.0 - self.momentum)
        return weight * (1.0 - lr * self.wd_lh) + np.sign(mom) * lr, (mom,)


@register
class SGLD(Optimizer):
    """Stochastic gradient Langevin dynamics; the noise comes from hb.np.random (seedable, and
    drawn inside compiled training steps too)."""

    default_lr = 0.1

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        if wd:
            grad = grad + weight * wd
        noise = np.random.normal(0.0, 1.0, size=weight.shape, dtype=weight.dtype)
        return weight - grad * (lr / 2) + noise * (lr ** 0.5), ()


@register
class DCASGD(Optimizer):
    default_lr = 0.1

    def __init__(self, learning_rate=None, momentum: float = 0.0, lamda: float = 0.04, **options):
        super().__init__(learning_rate, **options)
        self.momentum, self.lamda = float(momentum), float(lamda)

    def create_state(self, weight):
        previous = weight.copy()
        return (zeros_state(weight, 1)[0], previous) if self.momentum else (previous,)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        if wd:
            grad = grad + weight * wd
        previous = state[-1]
        compensated = grad + grad * grad * (weight - previous) * self.lamda
        if self.momentum:
            mom = state[0] * self.momentum - compensated * lr
            return weight + mom, (mom, weight)
        return weight - compensated * lr, (weight,)


@register
class Ftrl(Optimizer):
    default_lr = 0.1

    def __init__(self, learning_rate=None, lamda1: float = 0.01, beta: float = 1.0, **options):
        super().__init__(learning_rate, **options)
        self.lamda1, self.beta = float(lamda1), float(beta)

    def create_state(self, weight):
        return zeros_state(weight, 2)  # z, n

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        z, n = state
        n_new = n + grad * grad
        z = z + grad - (np.sqrt(n_new) - np.sqrt(n)) * weight / lr
        denom = (np.sqrt(n_new) + self.beta) / lr + self.decay(wd)
        return -np.sign(z) * np.maximum(np.abs(z) - self.lamda1, 0.0) / denom, (z, n_new)
