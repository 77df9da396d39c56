"""Convolutional reference models: LeNet-5, a ResNet basic block, an Inception-v1 block, ResNet-18."""
from __future__ import annotations

from ..frontend import np, npx, nn


class LeNet5(nn.HybridBlock):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2D(6, 5, padding=2, activation="relu")
        self.pool1 = nn.MaxPool2D(2)
        self.conv2 = nn.Conv2D(16, 5, activation="relu")
        self.pool2 = nn.AvgPool2D(2)
        self.flat = nn.Flatten()
        self.fc1 = nn.Dense(120, activation="relu")
        self.fc2 = nn.Dense(84, activation="relu")
        self.fc3 = nn.Dense(classes)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        return self.fc3(self.fc2(self.fc1(self.flat(x))))


class BasicBlock(nn.HybridBlock):
    """ResNet basic block: conv-BN-relu-conv-BN + shortcut (projected when the shape changes), relu."""

    def __init__(self, channels: int, stride: int = 1, in_channels: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2D(channels, 3, stride, 1, use_bias=False, in_channels=in_channels)
        self.bn1 = nn.BatchNorm(in_channels=channels)
        self.conv2 = nn.Conv2D(channels, 3, 1, 1, use_bias=False, in_channels=channels)
        self.bn2 = nn.BatchNorm(in_channels=channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.HybridSequential()
            self.downsample.add(nn.Conv2D(channels, 1, stride, use_bias=False, in_channels=in_channels),
                                nn.BatchNorm(in_channels=channels))

    def forward(self, x):
        out = npx.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return npx.relu(out + shortcut)


class InceptionBlock(nn.HybridBlock):
    """Inception-v1 block: 1x1, 1x1->3x3, 1x1->5x5 and 3x3-maxpool->1x1 branches, concatenated."""

    def __init__(self, c1: int = 8, c3: tuple = (6, 8), c5: tuple = (4, 4), pool_proj: int = 4):
        super().__init__()
        self.b1 = nn.Conv2D(c1, 1, activation="relu")
        self.b3 = nn.HybridSequential()
        self.b3.add(nn.Conv2D(c3[0], 1, activation="relu"), nn.Conv2D(c3[1], 3, padding=1, activation="relu"))
        self.b5 = nn.HybridSequential()
        self.b5.add(nn.Conv2D(c5[0], 1, activation="relu"), nn.Conv2D(c5[1], 5, padding=2, activation="relu"))
        self.bp = nn.HybridSequential()
        self.bp.add(nn.MaxPool2D(3, 1, 1), nn.Conv2D(pool_proj, 1, activation="relu"))

    def forward(self, x):
        return np.concatenate([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], axis=1)


class ResNet18(nn.HybridBlock):
    """ResNet-18 (CIFAR-style stem for small inputs such as 3x64x64)."""

    def __init__(self, classes: int = 10, width: int = 64):
        super().__init__()
        self.stem = nn.HybridSequential()
        self.stem.add(nn.Conv2D(width, 3, 1, 1, use_bias=False, in_channels=3), nn.BatchNorm(in_channels=width),
                      nn.Activation("relu"))
        self.stages = nn.HybridSequential()
        in_channels = width
        for i, channels in enumerate((width, width * 2, width * 4, width * 8)):
            stride = 1 if i == 0 else 2
            self.stages.add(BasicBlock(channels, stride, in_channels), BasicBlock(channels, 1, channels))
            in_channels = channels
        self.pool = nn.GlobalAvgPool2D()
        self.fc = nn.Dense(classes, in_units=in_channels)

    def forward(self, x):
        return self.fc(self.pool(self.stages(self.stem(x))))
