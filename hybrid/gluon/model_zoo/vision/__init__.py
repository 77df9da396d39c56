"""`gluon.model_zoo.vision`: MXNet's image classification networks by name.

`get_model(name, pretrained=False, classes=1000, root=...)`. Pretrained weights are never
downloaded: pretrained=True loads `<root>/<name>.npz` (a file written by save_parameters, e.g.
converted from MXNet's published .params), and says where it looked when the file is missing.
"""
from __future__ import annotations

import os
from typing import Optional

from ....errors import HybridError
from .alexnet import AlexNet, alexnet
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .inception import Inception3, inception_v3
from .mobilenet import (MobileNet, MobileNetV2, mobilenet0_25, mobilenet0_5, mobilenet0_75, mobilenet1_0,
                        mobilenet_v2_0_25, mobilenet_v2_0_5, mobilenet_v2_0_75, mobilenet_v2_1_0)
from .resnet import (BasicBlockV1, BasicBlockV2, BottleneckV1, BottleneckV2, ResNetV1, ResNetV2, get_resnet,
                     resnet18_v1, resnet18_v2, resnet34_v1, resnet34_v2, resnet50_v1, resnet50_v2, resnet101_v1,
                     resnet101_v2, resnet152_v1, resnet152_v2)
from .squeezenet import SqueezeNet, squeezenet1_0, squeezenet1_1
from .vgg import VGG, get_vgg, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

_MODELS = {
    "alexnet": alexnet, "densenet121": densenet121, "densenet161": densenet161, "densenet169": densenet169,
    "densenet201": densenet201, "inceptionv3": inception_v3, "mobilenet1.0": mobilenet1_0,
    "mobilenet0.75": mobilenet0_75, "mobilenet0.5": mobilenet0_5, "mobilenet0.25": mobilenet0_25,
    "mobilenetv2_1.0": mobilenet_v2_1_0, "mobilenetv2_0.75": mobilenet_v2_0_75, "mobilenetv2_0.5": mobilenet_v2_0_5,
    "mobilenetv2_0.25": mobilenet_v2_0_25, "resnet18_v1": resnet18_v1, "resnet34_v1": resnet34_v1,
    "resnet50_v1": resnet50_v1, "resnet101_v1": resnet101_v1, "resnet152_v1": resnet152_v1,
    "resnet18_v2": resnet18_v2, "resnet34_v2": resnet34_v2, "resnet50_v2": resnet50_v2,
    "resnet101_v2": resnet101_v2, "resnet152_v2": resnet152_v2, "squeezenet1.0": squeezenet1_0,
    "squeezenet1.1": squeezenet1_1, "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19,
    "vgg11_bn": vgg11_bn, "vgg13_bn": vgg13_bn, "vgg16_bn": vgg16_bn, "vgg19_bn": vgg19_bn,
}


def default_root() -> str:
    return os.path.join(os.path.expanduser("~"), ".hybrid", "models")


def get_model(name: str, pretrained: bool = False, root: Optional[str] = None, ctx=None, device=None,
              **kwargs):
    """The network `name` (e.g. 'resnet50_v1', 'mobilenetv2_1.0'); kwargs go to its constructor
    (classes=, multiplier via the name, ...)."""
    key = name.lower()
    if key not in _MODELS:
        raise ValueError(f"model {name!r} is not in the zoo; choose one of {', '.join(sorted(_MODELS))}")
    net = _MODELS[key](**kwargs)
    if pretrained:
        path = os.path.join(root or default_root(), f"{key}.npz")
        if not os.path.exists(path):
            raise HybridError(f"get_model({name!r}, pretrained=True): no parameter file at {path}. hybrid never "
                              f"downloads weights: save them there with net.save_parameters (converted from "
                              f"MXNet's published parameters), or pass root= to the folder that has {key}.npz")
        net.initialize()
        net.load_parameters(path)
    return net


__all__ = ["get_model", "default_root"] + sorted(k for k in _MODELS if k.isidentifier()) + [
    "AlexNet", "DenseNet", "Inception3", "MobileNet", "MobileNetV2", "ResNetV1", "ResNetV2", "BasicBlockV1",
    "BasicBlockV2", "BottleneckV1", "BottleneckV2", "SqueezeNet", "VGG", "get_resnet", "get_vgg", "inception_v3",
    "mobilenet1_0", "mobilenet0_75", "mobilenet0_5", "mobilenet0_25", "mobilenet_v2_1_0", "mobilenet_v2_0_75",
    "mobilenet_v2_0_5", "mobilenet_v2_0_25", "squeezenet1_0", "squeezenet1_1"]
