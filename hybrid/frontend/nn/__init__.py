"""`hb.nn`: Gluon's layer names."""
from ..block import Block, HybridBlock, SymbolBlock
from ..parameter import Constant, Parameter, ParameterDict
from .activations import ELU, GELU, PReLU, SELU, LeakyReLU, SiLU, Swish
from .basic import (Activation, BatchNorm, Dense, Dropout, Embedding, Flatten, HybridSequential, LayerNorm,
                    Sequential)
from .conv import (AvgPool1D, AvgPool2D, AvgPool3D, Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                   Conv3DTranspose, GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D,
                   GlobalMaxPool2D, GlobalMaxPool3D, MaxPool1D, MaxPool2D, MaxPool3D)
from .extra import (Concatenate, HybridConcatenate, HybridLambda, Identity, Lambda, PixelShuffle1D, PixelShuffle2D,
                    PixelShuffle3D, ReflectionPad2D)
from .norm import GroupNorm, InstanceNorm, SyncBatchNorm

__all__ = ["Block", "HybridBlock", "SymbolBlock", "Constant", "Parameter", "ParameterDict", "Activation", "BatchNorm",
           "Dense", "Dropout", "Embedding", "Flatten", "HybridSequential", "LayerNorm", "Sequential", "AvgPool1D",
           "AvgPool2D", "AvgPool3D", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D",
           "Conv3DTranspose", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D",
           "GlobalMaxPool2D", "GlobalMaxPool3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "ELU", "GELU", "PReLU", "SELU",
           "LeakyReLU", "SiLU", "Swish", "Concatenate", "HybridConcatenate", "HybridLambda", "Identity", "Lambda",
           "PixelShuffle1D", "PixelShuffle2D", "PixelShuffle3D", "ReflectionPad2D", "GroupNorm", "InstanceNorm", "SyncBatchNorm"]
