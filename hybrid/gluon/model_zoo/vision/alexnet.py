"""AlexNet ("One weird trick...", Krizhevsky 2014), as MXNet's model zoo builds it."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish


class AlexNet(nn.HybridBlock):
    """Five convolutions and three dense layers; expects 224x224 inputs."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        for channels, kernel, stride, pad, pool in ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
                                                    (256, 3, 1, 1, False), (256, 3, 1, 1, True)):
            self.features.add(nn.Conv2D(channels, kernel, strides=stride, padding=pad, activation="relu"))
            if pool:
                self.features.add(nn.MaxPool2D(pool_size=3, strides=2))
        self.features.add(nn.Flatten())
        for _ in range(2):
            self.features.add(nn.Dense(4096, activation="relu"), nn.Dropout(0.5))
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def alexnet(pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> AlexNet:
    return finish(AlexNet(**kwargs), "alexnet", pretrained, root, device)
