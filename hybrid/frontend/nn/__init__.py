"""`hb.nn`: Gluon's layer names."""
from ..block import Block, HybridBlock, SymbolBlock
from ..parameter import Constant, Parameter, ParameterDict
from .basic import (Activation, BatchNorm, Dense, Dropout, Embedding, Flatten, HybridSequential, LayerNorm,
                    Sequential)
from .conv import AvgPool2D, Conv2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D

__all__ = ["Block", "HybridBlock", "SymbolBlock", "Parameter", "ParameterDict", "Activation", "BatchNorm", "Dense",
           "Dropout", "Embedding", "Flatten", "HybridSequential", "LayerNorm", "Sequential", "AvgPool2D", "Conv2D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "MaxPool2D"]
