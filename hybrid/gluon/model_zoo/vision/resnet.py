"""ResNet v1 (He et al. 2015) and v2 (pre-activation, He et al. 2016), 18/34/50/101/152 layers, as
MXNet's model zoo builds them (so MXNet's parameter names and files fit)."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn, npx
from .store import finish


def _conv3x3(channels: int, stride: int, in_channels: int) -> nn.Conv2D:
    return nn.Conv2D(channels, 3, strides=stride, padding=1, use_bias=False, in_channels=in_channels)


class _ResidualV1(nn.HybridBlock):
    """A v1 block: relu(body(x) + shortcut), the shortcut projected where the shape changes."""

    def forward(self, x):
        shortcut = self.downsample(x) if self.downsample is not None else x
        return npx.relu(self.body(x) + shortcut)


class BasicBlockV1(_ResidualV1):
    """Two 3x3 convolutions with BatchNorm, the shortcut added before the last ReLU (ResNet-18/34)."""

    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.body = nn.HybridSequential()
        self.body.add(_conv3x3(channels, stride, in_channels), nn.BatchNorm(), nn.Activation("relu"),
                      _conv3x3(channels, 1, channels), nn.BatchNorm())
        self.downsample = _projection(channels, stride, in_channels) if downsample else None


class BottleneckV1(_ResidualV1):
    """1x1 (strided, with bias as in MXNet) -> 3x3 -> 1x1 convolutions with BatchNorm (ResNet-50/101/152)."""

    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.body = nn.HybridSequential()
        self.body.add(nn.Conv2D(channels // 4, 1, strides=stride), nn.BatchNorm(), nn.Activation("relu"),
                      _conv3x3(channels // 4, 1, channels // 4), nn.BatchNorm(), nn.Activation("relu"),
                      nn.Conv2D(channels, 1), nn.BatchNorm())
        self.downsample = _projection(channels, stride, in_channels) if downsample else None


def _projection(channels: int, stride: int, in_channels: int) -> nn.HybridSequential:
    """The v1 shortcut where the shape changes: a strided 1x1 convolution and BatchNorm."""
    out = nn.HybridSequential()
    out.add(nn.Conv2D(channels, 1, strides=stride, use_bias=False, in_channels=in_channels), nn.BatchNorm())
    return out


def _projection_v2(channels: int, stride: int, in_channels: int) -> nn.Conv2D:
    """The v2 shortcut where the shape changes: a strided 1x1 convolution of the activated input."""
    return nn.Conv2D(channels, 1, strides=stride, use_bias=False, in_channels=in_channels)


class BasicBlockV2(nn.HybridBlock):
    """Pre-activation basic block: BN-ReLU-conv twice; the shortcut projects the activated input."""

    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.bn1 = nn.BatchNorm()
        self.conv1 = _conv3x3(channels, stride, in_channels)
        self.bn2 = nn.BatchNorm()
        self.conv2 = _conv3x3(channels, 1, channels)
        self.downsample = _projection_v2(channels, stride, in_channels) if downsample else None

    def forward(self, x):
        shortcut = x
        x = npx.relu(self.bn1(x))
        if self.downsample is not None:
            shortcut = self.downsample(x)
        x = self.conv1(x)
        return self.conv2(npx.relu(self.bn2(x))) + shortcut


class BottleneckV2(nn.HybridBlock):
    """Pre-activation bottleneck: BN-ReLU-conv three times (1x1, strided 3x3, 1x1)."""

    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.bn1 = nn.BatchNorm()
        self.conv1 = nn.Conv2D(channels // 4, 1, use_bias=False)
        self.bn2 = nn.BatchNorm()
        self.conv2 = _conv3x3(channels // 4, stride, channels // 4)
        self.bn3 = nn.BatchNorm()
        self.conv3 = nn.Conv2D(channels, 1, use_bias=False)
        self.downsample = _projection_v2(channels, stride, in_channels) if downsample else None

    def forward(self, x):
        shortcut = x
        x = npx.relu(self.bn1(x))
        if self.downsample is not None:
            shortcut = self.downsample(x)
        x = self.conv1(x)
        x = self.conv2(npx.relu(self.bn2(x)))
        return self.conv3(npx.relu(self.bn3(x))) + shortcut


def _stage(block, count: int, channels: int, stride: int, in_channels: int) -> nn.HybridSequential:
    stage = nn.HybridSequential()
    stage.add(block(channels, stride, channels != in_channels, in_channels=in_channels))
    for _ in range(count - 1):
        stage.add(block(channels, 1, False, in_channels=channels))
    return stage


def _stem(features: nn.HybridSequential, channels: int, thumbnail: bool) -> None:
    """7x7/2 convolution, BN, ReLU and 3x3/2 max pooling; a single 3x3 convolution for small (CIFAR) images."""
    if thumbnail:
        features.add(_conv3x3(channels, 1, 0))
    else:
        features.add(nn.Conv2D(channels, 7, strides=2, padding=3, use_bias=False), nn.BatchNorm(),
                     nn.Activation("relu"), nn.MaxPool2D(3, 2, 1))


class ResNetV1(nn.HybridBlock):
    def __init__(self, block, layers: list[int], channels: list[int], classes: int = 1000, thumbnail: bool = False):
        super().__init__()
        if len(layers) != len(channels) - 1:
            raise ValueError(f"ResNetV1: {len(layers)} stages need {len(layers) + 1} channel counts, got {channels}")
        self.features = nn.HybridSequential()
        _stem(self.features, channels[0], thumbnail)
        for i, count in enumerate(layers):
            self.features.add(_stage(block, count, channels[i + 1], 1 if i == 0 else 2, channels[i]))
        self.features.add(nn.GlobalAvgPool2D())
        self.output = nn.Dense(classes, in_units=channels[-1])

    def forward(self, x):
        return self.output(self.features(x))


class ResNetV2(nn.HybridBlock):
    def __init__(self, block, layers: list[int], channels: list[int], classes: int = 1000, thumbnail: bool = False):
        super().__init__()
        if len(layers) != len(channels) - 1:
            raise ValueError(f"ResNetV2: {len(layers)} stages need {len(layers) + 1} channel counts, got {channels}")
        self.features = nn.HybridSequential()
        self.features.add(nn.BatchNorm(scale=False, center=False))  # normalizes the raw input
        _stem(self.features, channels[0], thumbnail)
        for i, count in enumerate(layers):
            self.features.add(_stage(block, count, channels[i + 1], 1 if i == 0 else 2, channels[i]))
        self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten())
        self.output = nn.Dense(classes, in_units=channels[-1])

    def forward(self, x):
        return self.output(self.features(x))


# depth -> (block kind, blocks per stage, channels: stem then each stage)
RESNET_SPEC = {18: ("basic", [2, 2, 2, 2], [64, 64, 128, 256, 512]),
               34: ("basic", [3, 4, 6, 3], [64, 64, 128, 256, 512]),
               50: ("bottleneck", [3, 4, 6, 3], [64, 256, 512, 1024, 2048]),
               101: ("bottleneck", [3, 4, 23, 3], [64, 256, 512, 1024, 2048]),
               152: ("bottleneck", [3, 8, 36, 3], [64, 256, 512, 1024, 2048])}
_BLOCKS = {1: {"basic": BasicBlockV1, "bottleneck": BottleneckV1}, 2: {"basic": BasicBlockV2, "bottleneck": BottleneckV2}}
_NETS = {1: ResNetV1, 2: ResNetV2}


def get_resnet(version: int, num_layers: int, pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs):
    if num_layers not in RESNET_SPEC or version not in _NETS:
        raise ValueError(f"ResNet v{version}-{num_layers} is not offered: versions 1 and 2, depths {sorted(RESNET_SPEC)}")
    kind, layers, channels = RESNET_SPEC[num_layers]
    net = _NETS[version](_BLOCKS[version][kind], layers, channels, **kwargs)
    return finish(net, f"resnet{num_layers}_v{version}", pretrained, root, device)


def resnet18_v1(**kwargs): return get_resnet(1, 18, **kwargs)
def resnet34_v1(**kwargs): return get_resnet(1, 34, **kwargs)
def resnet50_v1(**kwargs): return get_resnet(1, 50, **kwargs)
def resnet101_v1(**kwargs): return get_resnet(1, 101, **kwargs)
def resnet152_v1(**kwargs): return get_resnet(1, 152, **kwargs)
def resnet18_v2(**kwargs): return get_resnet(2, 18, **kwargs)
def resnet34_v2(**kwargs): return get_resnet(2, 34, **kwargs)
def resnet50_v2(**kwargs): return get_resnet(2, 50, **kwargs)
def resnet101_v2(**kwargs): return get_resnet(2, 101, **kwargs)
def resnet152_v2(**kwargs): return get_resnet(2, 152, **kwargs)
