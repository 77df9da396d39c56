"""AlexNet (Krizhevsky et al. 2012), laid out as MXNet's model zoo: `features` then `output`."""
from __future__ import annotations

from ....frontend import nn


class AlexNet(nn.HybridBlock):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(64, 11, 4, 2, activation="relu"), nn.MaxPool2D(3, 2),
                          nn.Conv2D(192, 5, padding=2, activation="relu"), nn.MaxPool2D(3, 2),
                          nn.Conv2D(384, 3, padding=1, activation="relu"),
                          nn.Conv2D(256, 3, padding=1, activation="relu"),
                          nn.Conv2D(256, 3, padding=1, activation="relu"), nn.MaxPool2D(3, 2), nn.Flatten(),
                          nn.Dense(4096, activation="relu"), nn.Dropout(0.5), nn.Dense(4096, activation="relu"),
                          nn.Dropout(0.5))
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def alexnet(**kwargs) -> AlexNet:
    return AlexNet(**kwargs)
