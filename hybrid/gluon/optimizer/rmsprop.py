"""RMSProp (Tieleman & Hinton), with optional momentum and the centered variant (Graves):

    v <- rho v + (1 - rho) g^2
    centered: a <- rho a + (1 - rho) g;  denom = sqrt(v - a^2) + eps,  else denom = sqrt(v) + eps
    momentum: b <- momentum b + g / denom;  w <- w - lr b,  else w <- w - lr g / denom
eps is added outside the square root, as PyTorch does (MXNet adds it inside).
"""
from __future__ import annotations

from typing import Optional

from ...errors import HybridError
from ...frontend import np
from .base import Optimizer, register, zeros_state


@register
class RMSProp(Optimizer):
    default_lr = 0.001

    def __init__(self, learning_rate: Optional[float] = None, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-8, centered: bool = False, wd: float = 0.0,
                 clip_gradient: Optional[float] = None, lr_scheduler=None, gamma1: Optional[float] = None,
                 gamma2: Optional[float] = None, **options):
        super().__init__(learning_rate, wd, clip_gradient, lr_scheduler, **options)
        rho, momentum = _mxnet1_names(rho, momentum, gamma1, gamma2, centered)
        if not 0.0 <= rho < 1.0:
            raise HybridError(f"RMSProp rho must be in [0, 1), got {rho}")
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), centered

    def create_state(self, weight):
        # (v, [a if centered], [b if momentum])
        return zeros_state(weight, 1 + bool(self.centered) + bool(self.momentum))

    def update(self, weight, grad, state, lr, t, wd=None, name=None):
        grad = self.preprocess(grad)
        wd = self.decay(wd)
        if wd:
            grad = grad + weight * wd
        rho = self.rho
        rest = list(state)
        var = rest.pop(0) * rho + grad * grad * (1.0 - rho)
        new_state = [var]
        if self.centered:
            avg = rest.pop(0) * rho + grad * (1.0 - rho)
            new_state.append(avg)
            denom = np.sqrt(var - avg * avg) + self.epsilon
        else:
            denom = np.sqrt(var) + self.epsilon
        step = grad / denom
        if self.momentum:
            step = rest.pop(0) * self.momentum + step
            new_state.append(step)
        return weight - step * lr, tuple(new_state)


def _mxnet1_names(rho: float, momentum: float, gamma1: Optional[float], gamma2: Optional[float],
                  centered: bool) -> tuple:
    """MXNet 1.x spelled rho `gamma1` and the centered variant's momentum `gamma2` (the d2l book's RMSProp
    chapter trains with {'gamma1': 0.9}); MXNet 2 renamed them and refuses the old names."""
    if gamma1 is not None:
        if rho != 0.9 and rho != gamma1:
            raise HybridError(f"RMSProp got rho={rho} and gamma1={gamma1}, MXNet 1.x's name for rho: pass one")
        rho = gamma1
    if gamma2 is not None:
        if not centered:
            raise HybridError(f"RMSProp(gamma2={gamma2}) without centered=True: MXNet 1.x reads gamma2 (the "
                              "momentum) only in the centered variant and ignores it otherwise; drop it, or pass "
                              "momentum= for heavy-ball momentum")
        momentum = gamma2
    return rho, momentum
