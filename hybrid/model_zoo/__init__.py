"""Reference models used by the tests, the benchmarks and the examples.

`ZOO` maps a name to (constructor, example input shape): every backend, pass and export path
is checked on each of them.
"""
from .cnn import BasicBlock, InceptionBlock, LeNet5, ResNet18
from .mlp import MLP
from .transformer import MultiHeadAttention, TransformerBlock

ZOO = {
    "mlp": (lambda: MLP(), (8, 784)),
    "lenet": (lambda: LeNet5(), (4, 1, 28, 28)),
    "resnet_block": (lambda: BasicBlock(16, in_channels=16), (2, 16, 12, 12)),
    "inception": (lambda: InceptionBlock(), (2, 16, 12, 12)),
    "transformer": (lambda: TransformerBlock(d_model=32, heads=4, mlp=64), (2, 10, 32)),
}

__all__ = ["MLP", "LeNet5", "BasicBlock", "InceptionBlock", "ResNet18", "MultiHeadAttention", "TransformerBlock",
           "ZOO"]
