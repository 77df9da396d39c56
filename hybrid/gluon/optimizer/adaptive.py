"""Per-coordinate adaptive optimizers with MXNet's update rules (g is the preprocessed gradient
plus wd * w unless noted; t the 1-based update count):

    AdaGrad:   h += g^2;  w -= lr g / (sqrt(h) + eps)
    AdaDelta:  a = rho a + (1-rho) g^2;  d = sqrt(b + eps) / sqrt(a + eps) g;  b = rho b + (1-rho) d^2;  w -= lr d
    Adamax:    m = b1 m + (1-b1) g;  u = max(b2 u, |g|);  w -= lr / (1 - b1^t) m / u
    Nadam:     Adam with Nesterov momentum and the momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t sd))
    AdaBelief: (wd added before clipping) m = b1 m + (1-b1) g;  s = b2 s + (1-b2)(g-m)^2 + eps;
               w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(s) + eps)
    FTML:      v = b2 v + (1-b2) g^2;  d' = (1-b1^t)/lr (sqrt(v/(1-b2^t)) + eps);
               z = b1 z + (1-b1) g - (d' - b1 d) w;  w = -z / d'
"""
from __future__ import annotations

from ...frontend import np
from .base import Optimizer, register, zeros_state


def _with_decay(opt: Optimizer, weight, grad, wd):
    grad = opt.preprocess(grad)
    wd = opt.decay(wd)
    return grad + weight * wd if wd else grad


@register
class AdaGrad(Optimizer):
    default_lr = 0.01

    def __init__(self, learning_rate=None, epsilon: float = 1e-6, **options):
        super().__init__(learning_rate, **options)
        self.epsilon = float(epsilon)

    def create_state(self, weight):
        return zeros_state(weight, 1)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = _with_decay(self, weight, grad, wd)
        history = state[0] + grad * grad
        return weight - grad / (np.sqrt(history) + self.epsilon) * lr, (history,)


@register
class AdaDelta(Optimizer):
    default_lr = 1.0

    def __init__(self, learning_rate=None, rho: float = 0.9, epsilon: float = 1e-6, **options):
        super().__init__(learning_rate, **options)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def create_state(self, weight):
        return zeros_state(weight, 2)  # accumulated g^2, accumulated delta^2

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = _with_decay(self, weight, grad, wd)
        rho, eps = self.rho, self.epsilon
        acc_g = state[0] * rho + grad * grad * (1.0 - rho)
        delta = np.sqrt(state[1] + eps) / np.sqrt(acc_g + eps) * grad
        acc_delta = state[1] * rho + delta * delta * (1.0 - rho)
        return weight - delta * lr, (acc_g, acc_delta)


@register
class Adamax(Optimizer):
    default_lr = 0.002

    def __init__(self, learning_rate=None, beta1: float = 0.9, beta2: float = 0.999, **options):
        super().__init__(learning_rate, **options)
        self.beta1, self.beta2 = float(beta1), float(beta2)

    def create_state(self, weight):
        return zeros_state(weight, 2)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = _with_decay(self, weight, grad, wd)
        mean = state[0] * self.beta1 + grad * (1.0 - self.beta1)
        norm = np.maximum(state[1] * self.beta2, np.abs(grad))
        return weight - mean / norm * (lr / (1.0 - self.beta1 ** t)), (mean, norm)


@register
class Nadam(Optimizer):
    """The momentum-schedule product is kept per parameter, as a third state array (MXNet keeps
    one Python float that every parameter's update multiplies into; see docs/semantics.md)."""

    default_lr = 0.001

    def __init__(self, learning_rate=None, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8,
                 schedule_decay: float = 0.004, **options):
        super().__init__(learning_rate, **options)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.schedule_decay = float(schedule_decay)

    def create_state(self, weight):
        mean, var, schedule = zeros_state(weight, 3)
        schedule += 1.0  # the empty product
        return mean, var, schedule

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = _with_decay(self, weight, grad, wd)
        b1, b2 = self.beta1, self.beta2
        momentum_t = (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay)) * b1
        momentum_next = (1.0 - 0.5 * 0.96 ** ((t + 1) * self.schedule_decay)) * b1
        schedule = state[2] * momentum_t
        schedule_next = schedule * momentum_next
        mean = state[0] * b1 + grad * (1.0 - b1)
        var = state[1] * b2 + grad * grad * (1.0 - b2)
        grad_prime = grad / (1.0 - schedule)
        mean_prime = mean / (1.0 - schedule_next)
        var_prime = var / (1.0 - b2 ** t)
        mean_bar = mean_prime * momentum_next + grad_prime * (1.0 - momentum_t)
        return weight - mean_bar / (np.sqrt(var_prime) + self.epsilon) * lr, (mean, var, schedule)


@register
class AdaBelief(Optimizer):
    default_lr = 0.001

    def __init__(self, learning_rate=None, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-6,
                 correct_bias: bool = True, **options):
        super().__init__(learning_rate, **options)
        self.beta1, self.beta2, self.epsilon, self.correct_bias = float(beta1), float(beta2), float(epsilon), correct_bias

    def create_state(self, weight):
        return zeros_state(weight, 2)

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        if self.rescale_grad != 1.0:
            grad = grad * self.rescale_grad
        wd = self.decay(wd)
        if wd:
            grad = grad + weight * wd  # before clipping, as MXNet's AdaBelief
        if self.clip_gradient is not None:
            grad = np.clip(grad, -self.clip_gradient, self.clip_gradient)
        b1, b2, eps = self.beta1, self.beta2, self.epsilon
        if self.correct_bias:
            lr = lr * (1.0 - b2 ** t) ** 0.5 / (1.0 - b1 ** t)
        mean = state[0] * b1 + grad * (1.0 - b1)
        diff = grad - mean
        var = state[1] * b2 + diff * diff * (1.0 - b2) + eps
        return weight - mean / (np.sqrt(var) + eps) * lr, (mean, var)


@register
class FTML(Optimizer):
    default_lr = 0.0025

    def __init__(self, learning_rate=None, beta1: float = 0.6, beta2: float = 0.999, epsilon: float = 1e-8,
                 **options):
        super().__init__(learning_rate, **options)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def create_state(self, weight):
        return zeros_state(weight, 3)  # d, v, z

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = _with_decay(self, weight, grad, wd)
        b1, b2 = self.beta1, self.beta2
        d_prev, v, z = state
        v = v * b2 + grad * grad * (1.0 - b2)
        d = (np.sqrt(v / (1.0 - b2 ** t)) + self.epsilon) * ((1.0 - b1 ** t) / lr)
        z = z * b1 + grad * (1.0 - b1) - (d - d_prev * b1) * weight
        return -z / d, (d, v, z)
