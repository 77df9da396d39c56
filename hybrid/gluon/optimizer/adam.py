"""Adam (the paper's Algorithm 1, as PyTorch writes it) and AdamW (MXNet 2's rule):

    m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
    Adam:  w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps),  wd * w added to g (L2)
    AdamW: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)  (lr_t = lr with correct_bias=False)
           w <- w - lr_t * m / (sqrt(v) + eps);  then  w <- w - lr_t * wd * w
AdamW's decay is decoupled from the gradient (Loshchilov & Hutter) and placed as MXNet 2 places it:
after the step, scaled by the bias-corrected rate; eps is added to sqrt(v) itself. PyTorch's
AdamW decays before the step with the plain rate and adds eps to the corrected sqrt(v / (1 - b2^t))
(docs/semantics.md).
"""
from __future__ import annotations

from typing import Optional

from ...errors import HybridError
from ...frontend import np
from .base import Optimizer, register, zeros_state


@register
class Adam(Optimizer):
    default_lr = 0.001

    def __init__(self, learning_rate: Optional[float] = None, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, wd: float = 0.0, clip_gradient: Optional[float] = None, lr_scheduler=None, **options):
        super().__init__(learning_rate, wd, clip_gradient, lr_scheduler, **options)
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise HybridError(f"{type(self).__name__} {name} must be in [0, 1), got {beta}")
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def create_state(self, weight):
        return zeros_state(weight, 2)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        if wd:
            grad = grad + weight * wd
        b1, b2 = self.beta1, self.beta2
        mean = state[0] * b1 + grad * (1.0 - b1)
        var = state[1] * b2 + grad * grad * (1.0 - b2)
        # Python floats (exact) eagerly; 0-d arrays when t is a traced input (b ** Tracer -> np.power).
        correction1 = 1.0 - b1 ** t
        correction2 = 1.0 - b2 ** t
        denom = np.sqrt(var / correction2) + self.epsilon
        return weight - (mean / correction1) / denom * lr, (mean, var)


@register
class AdamW(Adam):
    """Adam with decoupled weight decay, MXNet 2's rule (module docstring); correct_bias=False keeps
    the plain rate (as BERT's TensorFlow code)."""

    def __init__(self, learning_rate: Optional[float] = None, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-6, correct_bias: bool = True, wd: float = 0.0,
                 clip_gradient: Optional[float] = None, lr_scheduler=None, **options):
        super().__init__(learning_rate, beta1, beta2, epsilon, wd, clip_gradient, lr_scheduler, **options)
        self.correct_bias = bool(correct_bias)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        b1, b2 = self.beta1, self.beta2
        mean = state[0] * b1 + grad * (1.0 - b1)
        var = state[1] * b2 + grad * grad * (1.0 - b2)
        if self.correct_bias:   # `** 0.5`: exact on Python floats, np.power on a traced t
            lr = lr * (1.0 - b2 ** t) ** 0.5 / (1.0 - b1 ** t)
        weight = weight - mean / (np.sqrt(var) + self.epsilon) * lr
        if wd:
            weight = weight - weight * (lr * wd)
        return weight, (mean, var)
