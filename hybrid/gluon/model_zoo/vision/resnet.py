"""ResNet v1 (He et al. 2015) and v2 (pre-activation, He et al. 2016), 18/34/50/101/152 layers,
with MXNet's block layout and parameter names (the v1 bottleneck's 1x1 convolutions keep their biases)."""
from __future__ import annotations

from ....frontend import nn, npx


def _conv3x3(channels: int, stride: int, in_channels: int) -> nn.Conv2D:
    return nn.Conv2D(channels, 3, stride, 1, use_bias=False, in_channels=in_channels)


def _projection(channels: int, stride: int, in_channels: int, with_bn: bool):
    conv = nn.Conv2D(channels, 1, stride, use_bias=False, in_channels=in_channels)
    if not with_bn:
        return conv
    seq = nn.HybridSequential()
    seq.add(conv, nn.BatchNorm())
    return seq


class BasicBlockV1(nn.HybridBlock):
    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.body = nn.HybridSequential()
        self.body.add(_conv3x3(channels, stride, in_channels), nn.BatchNorm(), nn.Activation("relu"),
                      _conv3x3(channels, 1, channels), nn.BatchNorm())
        self.downsample = _projection(channels, stride, in_channels, True) if downsample else None

    def forward(self, x):
        residual = self.downsample(x) if self.downsample is not None else x
        return npx.relu(self.body(x) + residual)


class BottleneckV1(BasicBlockV1):
    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        nn.HybridBlock.__init__(self)
        self.body = nn.HybridSequential()
        self.body.add(nn.Conv2D(channels // 4, 1, stride), nn.BatchNorm(), nn.Activation("relu"),
                      _conv3x3(channels // 4, 1, channels // 4), nn.BatchNorm(), nn.Activation("relu"),
                      nn.Conv2D(channels, 1, 1), nn.BatchNorm())
        self.downsample = _projection(channels, stride, in_channels, True) if downsample else None


class BasicBlockV2(nn.HybridBlock):
    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.bn1 = nn.BatchNorm()
        self.conv1 = _conv3x3(channels, stride, in_channels)
        self.bn2 = nn.BatchNorm()
        self.conv2 = _conv3x3(channels, 1, channels)
        self.downsample = _projection(channels, stride, in_channels, False) if downsample else None

    def forward(self, x):
        pre = npx.relu(self.bn1(x))
        residual = self.downsample(pre) if self.downsample is not None else x
        return self.conv2(npx.relu(self.bn2(self.conv1(pre)))) + residual


class BottleneckV2(nn.HybridBlock):
    def __init__(self, channels: int, stride: int, downsample: bool = False, in_channels: int = 0):
        super().__init__()
        self.bn1 = nn.BatchNorm()
        self.conv1 = nn.Conv2D(channels // 4, 1, 1, use_bias=False)
        self.bn2 = nn.BatchNorm()
        self.conv2 = _conv3x3(channels // 4, stride, channels // 4)
        self.bn3 = nn.BatchNorm()
        self.conv3 = nn.Conv2D(channels, 1, 1, use_bias=False)
        self.downsample = _projection(channels, stride, in_channels, False) if downsample else None

    def forward(self, x):
        pre = npx.relu(self.bn1(x))
        residual = self.downsample(pre) if self.downsample is not None else x
        y = self.conv2(npx.relu(self.bn2(self.conv1(pre))))
        return self.conv3(npx.relu(self.bn3(y))) + residual


def _stage(block, count: int, channels: int, stride: int, in_channels: int) -> nn.HybridSequential:
    stage = nn.HybridSequential()
    stage.add(block(channels, stride, channels != in_channels, in_channels=in_channels))
    for _ in range(count - 1):
        stage.add(block(channels, 1, False, in_channels=channels))
    return stage


def _stem(features: nn.HybridSequential, channels: int, thumbnail: bool) -> None:
    if thumbnail:  # small (CIFAR-size) inputs: one 3x3 convolution, no downsampling
        features.add(_conv3x3(channels, 1, 0))
    else:
        features.add(nn.Conv2D(channels, 7, 2, 3, use_bias=False), nn.BatchNorm(), nn.Activation("relu"),
                     nn.MaxPool2D(3, 2, 1))


class ResNetV1(nn.HybridBlock):
    def __init__(self, block, layers, channels, classes: int = 1000, thumbnail: bool = False):
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
    def __init__(self, block, layers, channels, classes: int = 1000, thumbnail: bool = False):
        super().__init__()
        if len(layers) != len(channels) - 1:
            raise ValueError(f"ResNetV2: {len(layers)} stages need {len(layers) + 1} channel counts, got {channels}")
        self.features = nn.HybridSequential()
        self.features.add(nn.BatchNorm(scale=False, center=False))  # normalizes the raw input
        _stem(self.features, channels[0], thumbnail)
        in_channels = channels[0]
        for i, count in enumerate(layers):
            self.features.add(_stage(block, count, channels[i + 1], 1 if i == 0 else 2, in_channels))
            in_channels = channels[i + 1]
        self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten())
        self.output = nn.Dense(classes, in_units=in_channels)

    def forward(self, x):
        return self.output(self.features(x))


RESNET_SPEC = {18: ("basic", [2, 2, 2, 2], [64, 64, 128, 256, 512]),
               34: ("basic", [3, 4, 6, 3], [64, 64, 128, 256, 512]),
               50: ("bottleneck", [3, 4, 6, 3], [64, 256, 512, 1024, 2048]),
               101: ("bottleneck", [3, 4, 23, 3], [64, 256, 512, 1024, 2048]),
               152: ("bottleneck", [3, 8, 36, 3], [64, 256, 512, 1024, 2048])}
_BLOCKS = {1: {"basic": BasicBlockV1, "bottleneck": BottleneckV1}, 2: {"basic": BasicBlockV2, "bottleneck": BottleneckV2}}


def get_resnet(version: int, num_layers: int, **kwargs):
    if num_layers not in RESNET_SPEC or version not in (1, 2):
        raise ValueError(f"ResNet v{version} with {num_layers} layers does not exist; versions 1, 2 and depths "
                         f"{sorted(RESNET_SPEC)}")
    kind, layers, channels = RESNET_SPEC[num_layers]
    return (ResNetV1 if version == 1 else ResNetV2)(_BLOCKS[version][kind], layers, channels, **kwargs)


def resnet18_v1(**kw): return get_resnet(1, 18, **kw)
def resnet34_v1(**kw): return get_resnet(1, 34, **kw)
def resnet50_v1(**kw): return get_resnet(1, 50, **kw)
def resnet101_v1(**kw): return get_resnet(1, 101, **kw)
def resnet152_v1(**kw): return get_resnet(1, 152, **kw)
def resnet18_v2(**kw): return get_resnet(2, 18, **kw)
def resnet34_v2(**kw): return get_resnet(2, 34, **kw)
def resnet50_v2(**kw): return get_resnet(2, 50, **kw)
def resnet101_v2(**kw): return get_resnet(2, 101, **kw)
def resnet152_v2(**kw): return get_resnet(2, 152, **kw)
