"""`hb.gluon`: the training API with MXNet Gluon's names: Trainer, optimizers, learning-rate
schedules, losses, metrics, and data loading."""
from . import data, loss, lr_scheduler, metric, model_zoo, optimizer, rnn, utils
from .data import vision
from .trainer import Trainer

__all__ = ["Trainer", "data", "loss", "lr_scheduler", "metric", "optimizer", "rnn", "utils", "vision"]
