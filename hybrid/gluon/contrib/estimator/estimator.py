"""The Estimator (MXNet's gluon.contrib.estimator): fit a block on a DataLoader with a loss, a
Trainer and metrics, calling event handlers around epochs and batches."""
from __future__ import annotations

import copy
import logging
import math
import sys
import warnings
from typing import Optional

from ....core import autograd
from ....core.context import Context, cpu, num_gpus
from ....errors import HybridError
from ... import metric as metric_mod
from ...data import DataLoader
from ...loss import Loss, SoftmaxCrossEntropyLoss
from ...trainer import Trainer
from .event_handler import (GradientUpdateHandler, LoggingHandler, MetricHandler, StoppingHandler,
                            ValidationHandler)


EVENTS = ("train_begin", "epoch_begin", "batch_begin", "batch_end", "epoch_end", "train_end")


def _metrics(metrics, what: str) -> list:
    listed = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics] if metrics is not None else []
    for m in listed:
        if not isinstance(m, metric_mod.EvalMetric):
            raise ValueError(f"Estimator: {what} must be gluon.metric.EvalMetric objects, got {m!r}; "
                             "gluon.metric.create(name) makes one from a name")
    return listed


def _devices(device) -> list:
    listed = list(device) if isinstance(device, (list, tuple)) else [device] if device is not None else [cpu()]
    for d in listed:
        if not isinstance(d, Context):
            raise ValueError(f"Estimator: device must be a device (hb.cpu(), hb.gpu(i)) or a list of them, got {d!r}")
        if d.device_type == "gpu":
            assert d.device_id < num_gpus(), f"Estimator: {d} does not exist ({num_gpus()} GPUs)"
    return listed


def _prefixed(metrics: list, prefix: str) -> list:
    """MXNet's rule: the estimator's training metrics are named 'training NAME', validation ones
    'validation NAME' (a copied training metric's prefix is replaced), so handlers tell them apart."""
    for m in metrics:
        if m.name.startswith("training ") and prefix == "validation":
            m.name = "validation " + m.name[len("training "):]
        elif not m.name.startswith(prefix + " "):
            m.name = f"{prefix} {m.name}"
    return metrics


def _check_metrics_are_updated(handlers, validation: list) -> None:
    """Every metric a handler reads must be one that a MetricHandler (training) or validation updates;
    another would report its initial value forever (MXNet raises the same ValueError)."""
    updated = {id(m) for h in handlers if isinstance(h, MetricHandler) for m in h.metrics}
    updated |= {id(m) for m in validation}
    for h in handlers:
        if isinstance(h, MetricHandler):
            continue
        for m in getattr(h, "metrics", None) or []:
            if id(m) not in updated:
                raise ValueError(f"{type(h).__name__} reads metric {m.name!r}, which no MetricHandler or validation "
                                 "updates; pass the estimator's metrics (est.train_metrics / est.val_metrics) or "
                                 "add a MetricHandler for it")


class Estimator:
    def __init__(self, net, loss, train_metrics=None, val_metrics=None, initializer=None, trainer=None,
                 device=None, context=None, val_net=None, val_loss=None, batch_axis: int = 0):
        """As MXNet's: `loss` a gluon.loss.Loss, metrics EvalMetric objects (or lists of them; the default
        for SoftmaxCrossEntropyLoss is Accuracy), `trainer` a gluon.Trainer (default: SGD, learning rate
        0.001, with a warning), `device` a device or a list of them. Anything else is a ValueError."""
        if not isinstance(loss, Loss):
            raise ValueError(f"Estimator: loss must be a gluon.loss.Loss, got {loss!r} ({type(loss).__name__})")
        self.net, self.loss = net, loss
        self.val_net, self.val_loss = val_net or net, val_loss or loss
        self.batch_axis = batch_axis
        self.devices = _devices(device if device is not None else context)
        self.train_metrics = _metrics(train_metrics, "train_metrics")
        if not self.train_metrics and isinstance(loss, SoftmaxCrossEntropyLoss):
            self.train_metrics = [metric_mod.Accuracy()]
        self.val_metrics = _metrics(val_metrics, "val_metrics") or copy.deepcopy(self.train_metrics)
        _prefixed(self.train_metrics, "training")
        _prefixed(self.val_metrics, "validation")
        # MXNet's: a logger of its own (not the root's) that prints to the stdout of construction time
        self.logger = logging.Logger(name="Estimator", level=logging.INFO)
        self.logger.addHandler(logging.StreamHandler(sys.stdout))
        self.train_loss_metric = metric_mod.Loss("training loss")
        self.val_loss_metric = metric_mod.Loss("validation loss")
        try:
            params = net.collect_params()
            if any(not p.is_initialized and p._deferred_init is None for p in params.values()):
                net.initialize(initializer)
            elif initializer is not None:
                warnings.warn("Network already fully initialized, skipping initialization: the Estimator's "
                              "initializer is not used (pass none for an initialized network)", stacklevel=2)
        except HybridError as e:
            raise HybridError(f"Estimator: could not initialize the network: {e}") from None
        if trainer is None:
            warnings.warn("No trainer specified: the Estimator uses SGD with learning rate 0.001", stacklevel=2)
            trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.001})
        elif not isinstance(trainer, Trainer):
            raise ValueError(f"Estimator: trainer must be a gluon.Trainer, got {trainer!r}")
        self.trainer = trainer
        self.epoch, self.last_loss = 0, float("nan")
        self.train_data = None
        self.max_epoch: Optional[int] = None
        self.max_batch: Optional[int] = None

    @staticmethod
    def _categorize_handlers(handlers) -> tuple[list, ...]:
        """The handlers that take each event, in EVENTS order (train_begin, epoch_begin, batch_begin,
        batch_end, epoch_end, train_end): those with a method of the event's name (the event classes
        TrainBegin, ... provide one)."""
        return tuple([h for h in handlers if callable(getattr(h, event, None))] for event in EVENTS)

    def batch_size(self, batch) -> int:
        data = batch[0] if isinstance(batch, (tuple, list)) else batch
        return data.shape[self.batch_axis]

    def _split(self, batch):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise HybridError("Estimator: each batch must be (data, label)")
        return batch[0], batch[1]

    def evaluate(self, val_data, batch_axis: int = 0, event_handlers=None) -> list:
        """Run val_net over val_data; update val_metrics and the validation loss; return their (name, value).
        `event_handlers` (e.g. from ValidationHandler(event_handlers=)) get epoch_begin, batch_begin,
        batch_end and epoch_end of this evaluation pass."""
        handlers = event_handlers if isinstance(event_handlers, (list, tuple)) else \
            [event_handlers] if event_handlers is not None else []
        _, epoch_begin, batch_begin, batch_end, epoch_end, _ = self._categorize_handlers(handlers)
        for m in self.val_metrics + [self.val_loss_metric]:
            m.reset()
        for h in epoch_begin:
            h.epoch_begin(self)
        for batch in val_data:
            for h in batch_begin:
                h.batch_begin(self, batch=batch)
            data, label = self._split(batch)
            pred = self.val_net(data)
            loss = self.val_loss(pred, label)
            for m in self.val_metrics:
                m.update(label, pred)
            self.val_loss_metric.update(0, loss)
            for h in batch_end:
                h.batch_end(self, batch=batch, pred=pred, label=label, loss=loss)
        for h in epoch_end:
            h.epoch_end(self)
        return [m.get() for m in self.val_metrics + [self.val_loss_metric]]

    def _prepare_default_handlers(self, val_data, event_handlers) -> list:
        """The user's handlers plus the defaults they lack (GradientUpdateHandler, MetricHandler,
        ValidationHandler when val_data is given, LoggingHandler, StoppingHandler), in the order they are
        called: by `priority` (lower first, 0 when absent), the user's before defaults of equal priority."""
        handlers = list(event_handlers) if isinstance(event_handlers, (list, tuple)) else \
            [event_handlers] if event_handlers is not None else []
        have = lambda kind: any(isinstance(h, kind) for h in handlers)  # noqa: E731
        metrics = self.train_metrics + [self.train_loss_metric]
        defaults = []
        if not have(GradientUpdateHandler):
            defaults.append(GradientUpdateHandler())
        if not have(MetricHandler):
            defaults.append(MetricHandler(metrics))
        if val_data is not None and not have(ValidationHandler):
            defaults.append(ValidationHandler(val_data, self.evaluate))
        if not have(LoggingHandler):
            defaults.append(LoggingHandler(metrics=metrics + (self.val_metrics + [self.val_loss_metric]
                                                              if val_data is not None else [])))
        if not have(StoppingHandler):
            defaults.append(StoppingHandler(self.max_epoch, self.max_batch))
        ordered = sorted(handlers + defaults, key=lambda h: getattr(h, "priority", 0))
        _check_metrics_are_updated(ordered, self.val_metrics + [self.val_loss_metric] if val_data is not None else [])
        return ordered

    def fit(self, train_data, val_data=None, epochs: Optional[int] = None, event_handlers=None,
            batches: Optional[int] = None, batch_axis: int = 0):
        """Train for `epochs` epochs (or `batches` batches); returns the handlers used."""
        if epochs is None and batches is None:
            raise HybridError("Estimator.fit: give epochs= or batches=")
        for name, data in (("train_data", train_data), ("val_data", val_data)):
            if data is not None and not isinstance(data, DataLoader):
                raise ValueError(f"Estimator.fit: {name} must be a gluon.data.DataLoader (of (data, label) batches), "
                                 f"got a {type(data).__name__}; wrap arrays in gluon.data.ArrayDataset and a DataLoader")
        self.train_data, self.batch_axis = train_data, batch_axis
        self.max_epoch, self.max_batch = epochs, batches
        handlers = self._prepare_default_handlers(val_data, event_handlers)
        by_event = dict(zip(EVENTS, self._categorize_handlers(handlers)))
        call = lambda event, **kw: [getattr(h, event)(self, **kw) for h in by_event[event]]  # noqa: E731
        call("train_begin")
        stop = False
        self.epoch = 0
        while not stop:
            call("epoch_begin")
            for batch in train_data:
                call("batch_begin", batch=batch)
                data, label = self._split(batch)
                with autograd.record():
                    pred = self.net(data)
                    loss = self.loss(pred, label)
                    total = loss.sum()  # MXNet's loss.backward(): a gradient of ones for a per-sample loss
                total.backward()   # GradientUpdateHandler applies it at batch_end
                self.last_loss = float(loss.asnumpy().mean())
                if any(call("batch_end", batch=batch, pred=pred, label=label, loss=loss)):
                    stop = True
                    break
            self.epoch += 1
            if any(call("epoch_end")):
                stop = True
        call("train_end")
        return handlers
