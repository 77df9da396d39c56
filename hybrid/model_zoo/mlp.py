from __future__ import annotations

from ..frontend import nn


class MLP(nn.HybridBlock):
    """784-1024-1024-10 by default (the W1 benchmark shape)."""

    def __init__(self, hidden=(1024, 1024), classes: int = 10, in_units: int = 784):
        super().__init__()
        self.layers = nn.HybridSequential()
        for width in hidden:
            self.layers.add(nn.Dense(width, activation="relu", in_units=in_units))
            in_units = width
        self.out = nn.Dense(classes, in_units=in_units)

    def forward(self, x):
        return self.out(self.layers(x))
