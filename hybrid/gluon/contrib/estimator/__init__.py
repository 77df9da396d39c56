"""`gluon.contrib.estimator`: a fit/evaluate loop with event handlers (MXNet's names)."""
from .estimator import Estimator
from .event_handler import (BatchBegin, BatchEnd, CheckpointHandler, EarlyStoppingHandler, EpochBegin, EpochEnd,
                            LoggingHandler, MetricHandler, PlotHandler, StoppingHandler, TrainBegin, TrainEnd,
                            ValidationHandler)

__all__ = ["Estimator", "BatchBegin", "BatchEnd", "CheckpointHandler", "EarlyStoppingHandler", "EpochBegin",
           "EpochEnd", "LoggingHandler", "MetricHandler", "PlotHandler", "StoppingHandler", "TrainBegin", "TrainEnd",
           "ValidationHandler"]
