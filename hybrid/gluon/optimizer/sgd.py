"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (MXNet's form).

    g = grad + wd * w
    plain:     w <- w - lr * g
    momentum:  m <- momentum * m - lr * g;  w <- w + m
    Nesterov:  m <- momentum * m - lr * g;  w <- w + momentum * m - lr * g
With a constant rate this is PyTorch's SGD (its buffer is -m / lr).
"""
from __future__ import annotations

from typing import Optional

from ...errors import HybridError
from .base import Optimizer, register, zeros_state


@register
class SGD(Optimizer):
    def __init__(self, learning_rate: Optional[float] = None, momentum: float = 0.0, nesterov: bool = False,
                 wd: float = 0.0, clip_gradient: Optional[float] = None, lr_scheduler=None, **options):
        super().__init__(learning_rate, wd, clip_gradient, lr_scheduler, **options)
        if not 0.0 <= momentum < 1.0:
            raise HybridError(f"SGD momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise HybridError("SGD(nesterov=True) needs a momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def create_state(self, weight):
        return zeros_state(weight, 1 if self.momentum else 0)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        if wd:
            grad = grad + weight * wd
        step = grad * lr
        if not self.momentum:
            return weight - step, ()
        mom = state[0] * self.momentum - step
        if self.nesterov:
            return weight + mom * self.momentum - step, (mom,)
        return weight + mom, (mom,)


@register
class NAG(SGD):
    """Nesterov accelerated gradient: SGD with nesterov=True (momentum 0.9 by default)."""

    def __init__(self, learning_rate: Optional[float] = None, momentum: float = 0.9, wd: float = 0.0,
                 clip_gradient: Optional[float] = None, lr_scheduler=None, **options):
        super().__init__(learning_rate, momentum, True, wd, clip_gradient, lr_scheduler, **options)
