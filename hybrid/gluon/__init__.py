"""`hb.gluon`: the training API with MXNet Gluon's names: blocks and layers (nn), parameters,
Trainer, optimizers, learning-rate schedules, losses, metrics, data loading and the model zoo."""
from . import contrib, data, loss, lr_scheduler, metric, model_zoo, nn, optimizer, parameter, rnn, utils
from .block import Block, HybridBlock, SymbolBlock
from .data import vision
from .parameter import Constant, Parameter, ParameterDict
from .trainer import Trainer

__all__ = ["Block", "HybridBlock", "SymbolBlock", "Constant", "Parameter", "ParameterDict", "Trainer", "contrib", "data",
           "loss", "lr_scheduler", "metric", "model_zoo", "nn", "optimizer", "parameter", "rnn", "utils", "vision"]
