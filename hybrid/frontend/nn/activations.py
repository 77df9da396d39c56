"""Activation layers (Gluon names): LeakyReLU, PReLU, ELU, SELU, GELU, Swish, SiLU."""
from __future__ import annotations

from .. import npx
from ..block import HybridBlock
from ..init import Constant
from ..parameter import Parameter


class LeakyReLU(HybridBlock):
    """x for x >= 0, alpha * x otherwise."""

    def __init__(self, alpha: float):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"LeakyReLU: alpha must be >= 0, got {alpha}")
        self.alpha = alpha

    def forward(self, x):
        return npx.leaky_relu(x, act_type="leaky", slope=self.alpha)

    def _extra_repr(self) -> str:
        return f"{self.alpha}"


class PReLU(HybridBlock):
    """Leaky ReLU with learned slopes `alpha`: one per channel (axis 1) when in_channels > 1."""

    def __init__(self, alpha_initializer=None, in_channels: int = 1):
        super().__init__()
        self.alpha = Parameter("alpha", (in_channels,), init=alpha_initializer or Constant(0.25))

    def forward(self, x):
        return npx.leaky_relu(x, self.alpha.data(), act_type="prelu")


class ELU(HybridBlock):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (Clevert et al.)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return npx.elu(x, self.alpha)


class SELU(HybridBlock):
    """Scaled ELU with the self-normalizing constants (Klambauer et al.)."""

    def forward(self, x):
        return npx.selu(x)


class GELU(HybridBlock):
    """Gaussian error linear unit: approximation 'erf' (exact) or 'tanh'."""

    def __init__(self, approximation: str = "erf"):
        super().__init__()
        if approximation not in ("erf", "tanh"):
            raise ValueError(f"GELU: approximation must be 'erf' or 'tanh', got {approximation!r}")
        self.approximation = approximation

    def forward(self, x):
        return npx.gelu(x, self.approximation)


class Swish(HybridBlock):
    """x * sigmoid(beta * x) (Ramachandran et al.)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * npx.sigmoid(x * self.beta)


class SiLU(HybridBlock):
    """x * sigmoid(x) (Swish with beta = 1)."""

    def forward(self, x):
        return npx.silu(x)
