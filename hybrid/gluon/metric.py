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

    def __init__(self, name: str, output_names=None, label_names=None, **config):
        self.name = name
        self.output_names, self.label_names = output_names, label_names
        self._config = config  # the constructor arguments get_config reports
        self.reset()

    def get_config(self) -> dict:
        """The arguments that recreate this metric with `create(**config)`."""
        return {"metric": type(self).__name__, "name": self.name, "output_names": self.output_names,
                "label_names": self.label_names, **self._config}

    def update_dict(self, label: dict, pred: dict) -> None:
        """update() from dicts of named outputs, picking output_names / label_names when set."""
        preds = [pred[n] for n in self.output_names] if self.output_names is not None else list(pred.values())
        labels = [label[n] for n in self.label_names] if self.label_names is not None else list(label.values())
        self.update(labels, preds)

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

    def __init__(self, axis: int = 1, name: str = "accuracy", output_names=None, label_names=None):
        self.axis = axis
        super().__init__(name, output_names, label_names, axis=axis)

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

    def __init__(self, top_k: int = 1, name: str = "top_k_accuracy", output_names=None, label_names=None):
        if top_k < 1:
            raise ValueError(f"TopKAccuracy: top_k must be >= 1, got {top_k}")
        self.top_k = top_k
        super().__init__(f"{name}_{top_k}", output_names, label_names, top_k=top_k)

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

    def __init__(self, eps: float = 1e-12, from_logits: bool = False, name: str = "cross-entropy",
                 output_names=None, label_names=None):
        self.eps, self.from_logits = eps, from_logits
        super().__init__(name, output_names, label_names, eps=eps, from_logits=from_logits)

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

    def __init__(self, name: str = "loss", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def update(self, labels, preds) -> None:
        for pred in _as_list(preds):
            pred = numpy.asarray(pred)
            self.sum_metric += float(pred.sum())
            self.num_inst += pred.size


from .metric_more import (MAE, MCC, MSE, PCC, RMSE, BinaryAccuracy, CompositeEvalMetric,  # noqa: E402
                          CustomMetric, F1, Fbeta, MeanCosineSimilarity, MeanPairwiseDistance,
                          NegativeLogLikelihood, PearsonCorrelation, Perplexity, np)

_NAMES = {"acc": Accuracy, "accuracy": Accuracy, "top_k_accuracy": TopKAccuracy, "top_k_acc": TopKAccuracy,
          "ce": CrossEntropy, "cross-entropy": CrossEntropy, "loss": Loss, "mae": MAE, "mse": MSE, "rmse": RMSE,
          "f1": F1, "fbeta": Fbeta, "mcc": MCC, "pcc": PCC, "perplexity": Perplexity,
          "pearsonr": PearsonCorrelation, "pearsoncorrelation": PearsonCorrelation, "nll_loss": NegativeLogLikelihood,
          "binary_accuracy": BinaryAccuracy, "mpd": MeanPairwiseDistance, "cos_sim": MeanCosineSimilarity,
          "composite": CompositeEvalMetric}


def create(metric, *args, **kwargs) -> EvalMetric:
    """A metric from a name ('acc', 'f1', 'rmse', ...; a class name also works, as get_config's
    'metric' field), a get_config() dict as a JSON string, an instance, a function feval(label, pred) (a CustomMetric), or a list of
    any of these (a CompositeEvalMetric)."""
    if isinstance(metric, EvalMetric):
        return metric
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, (list, tuple)):
        composite = CompositeEvalMetric()
        for m in metric:
            composite.add(create(m, *args, **kwargs))
        return composite
    if isinstance(metric, dict) or isinstance(metric, str) and metric.lstrip().startswith("{"):
        import json   # a get_config() dict, or it as JSON (MXNet's registry)
        config = dict(metric) if isinstance(metric, dict) else json.loads(metric)
        if not isinstance(config, dict) or "metric" not in config:
            raise ValueError(f"metric config {metric!r} must be a JSON object with a 'metric' field")
        name = config.pop("metric")
        return create(name, *args, **{**config, **kwargs})
    key = str(metric).lower()
    cls = _NAMES.get(key) or next((c for c in _NAMES.values() if c.__name__.lower() == key), None)
    if cls is None:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(sorted(_NAMES))}")
    return cls(*args, **kwargs)


__all__ = ["EvalMetric", "Accuracy", "TopKAccuracy", "CrossEntropy", "Loss", "create", "MAE", "MSE", "RMSE", "F1",
           "Fbeta", "MCC", "PCC", "Perplexity", "PearsonCorrelation", "BinaryAccuracy", "MeanPairwiseDistance",
           "MeanCosineSimilarity", "NegativeLogLikelihood", "CompositeEvalMetric", "CustomMetric", "np"]
