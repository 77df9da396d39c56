"""Evaluation metrics (Gluon names and semantics): `update(labels, preds)` accumulates,
`get()` returns (name, value), `reset()` clears. Labels and predictions may be NDArrays, NumPy
arrays, or lists of them (one per output); metrics run on the host in NumPy."""
from __future__ import annotations

import math
from typing import Union

import numpy

from ..errors import ShapeError


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _pairs(labels, preds) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
    labels, preds = _as_list(labels), _as_list(preds)
    if len(labels) != len(preds):
        raise ShapeError(f"metric update: {len(labels)} label arrays for {len(preds)} prediction arrays")
    return [(numpy.asarray(l), numpy.asarray(p)) for l, p in zip(labels, preds)]


class EvalMetric:
    """Base class: a running sum over a number of instances."""

    def __init__(self, name: str):
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.sum_metric = 0.0
        self.num_inst = 0

    def update(self, labels, preds) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update()")

    def get(self) -> tuple[str, float]:
        return self.name, (self.sum_metric / self.num_inst if self.num_inst else math.nan)

    def get_name_value(self) -> list[tuple[str, float]]:
        return [self.get()]

    def __repr__(self) -> str:
        name, value = self.get()
        return f"EvalMetric: {{'{name}': {value}}}"


class Accuracy(EvalMetric):
    """Fraction of correct predictions; class scores are reduced with argmax along `axis`."""

    def __init__(self, axis: int = 1, name: str = "accuracy"):
        self.axis = axis
        super().__init__(name)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            if pred.shape != label.shape:
                pred = pred.argmax(axis=self.axis)
            label, pred = label.astype(numpy.int64).ravel(), pred.astype(numpy.int64).ravel()
            if label.shape != pred.shape:
                raise ShapeError(f"Accuracy: {label.size} labels for {pred.size} predictions")
            self.sum_metric += float((label == pred).sum())
            self.num_inst += label.size


class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the `top_k` highest-scoring classes."""

    def __init__(self, top_k: int = 1, name: str = "top_k_accuracy"):
        if top_k < 1:
            raise ValueError(f"TopKAccuracy: top_k must be >= 1, got {top_k}")
        self.top_k = top_k
        super().__init__(f"{name}_{top_k}")

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            if pred.ndim != 2 or label.ravel().shape[0] != pred.shape[0]:
                raise ShapeError(f"TopKAccuracy: expected (batch, classes) scores and one label per row, got "
                                 f"scores {pred.shape} and labels {label.shape}")
            k = min(self.top_k, pred.shape[1])
            top = numpy.argpartition(-pred, k - 1, axis=1)[:, :k]
            self.sum_metric += float((top == label.astype(numpy.int64).reshape(-1, 1)).any(axis=1).sum())
            self.num_inst += pred.shape[0]


class CrossEntropy(EvalMetric):
    """Mean -log p(label). `preds` are probabilities, or logits when from_logits=True."""

    def __init__(self, eps: float = 1e-12, from_logits: bool = False, name: str = "cross-entropy"):
        self.eps, self.from_logits = eps, from_logits
        super().__init__(name)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            label = label.astype(numpy.int64).ravel()
            if pred.ndim != 2 or label.shape[0] != pred.shape[0]:
                raise ShapeError(f"CrossEntropy: expected (batch, classes) predictions and one label per row, "
                                 f"got predictions {pred.shape} and labels {label.shape}")
            rows = numpy.arange(label.shape[0])
            if self.from_logits:
                shifted = pred - pred.max(axis=1, keepdims=True)
                logp = shifted[rows, label] - numpy.log(numpy.exp(shifted).sum(axis=1))
                self.sum_metric += float(-logp.sum())
            else:
                self.sum_metric += float(-numpy.log(pred[rows, label] + self.eps).sum())
            self.num_inst += label.shape[0]


class Loss(EvalMetric):
    """Mean of loss values (the `preds`); `labels` are ignored."""

    def __init__(self, name: str = "loss"):
        super().__init__(name)

    def update(self, labels, preds) -> None:
        for pred in _as_list(preds):
            pred = numpy.asarray(pred)
            self.sum_metric += float(pred.sum())
            self.num_inst += pred.size


_NAMES = {"acc": Accuracy, "accuracy": Accuracy, "top_k_accuracy": TopKAccuracy, "top_k_acc": TopKAccuracy,
          "ce": CrossEntropy, "cross-entropy": CrossEntropy, "loss": Loss}


def create(metric: Union[str, EvalMetric], **kwargs) -> EvalMetric:
    """A metric from its name ('acc', 'top_k_accuracy', 'ce', 'loss') or an instance."""
    if isinstance(metric, EvalMetric):
        return metric
    try:
        return _NAMES[metric.lower()](**kwargs)
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(sorted(_NAMES))}") from None


__all__ = ["EvalMetric", "Accuracy", "TopKAccuracy", "CrossEntropy", "Loss", "create"]
