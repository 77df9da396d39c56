"""More evaluation metrics with MXNet 2's names and semantics: regression errors, binary
classification scores (F1, Fbeta, MCC), the multiclass PCC, perplexity, correlations, distances,
composites and custom metrics. All run on the host in NumPy."""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy

from ..errors import ShapeError
from .metric import EvalMetric, _as_list, _pairs


class _Regression(EvalMetric):
    """Mean over samples of a per-sample error (the per-element error averaged within a sample)."""

    def error(self, diff: numpy.ndarray) -> numpy.ndarray:
        raise NotImplementedError

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            if label.size != pred.size:
                raise ShapeError(f"{type(self).__name__}: {label.size} labels for {pred.size} predictions")
            label = label.reshape(pred.shape).astype(numpy.float64)
            n = pred.shape[0] if pred.ndim else 1
            per_sample = self.error(label - pred.astype(numpy.float64)).reshape(n, -1).mean(axis=1)
            self.sum_metric += float(per_sample.sum())
            self.num_inst += n


class MAE(_Regression):
    def __init__(self, name: str = "mae", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def error(self, diff):
        return numpy.abs(diff)


class MSE(_Regression):
    def __init__(self, name: str = "mse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def error(self, diff):
        return diff * diff


class RMSE(MSE):
    """The square root of the mean squared error over everything seen (MXNet 2)."""

    def __init__(self, name: str = "rmse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def get(self):
        return self.name, (math.sqrt(self.sum_metric / self.num_inst) if self.num_inst else math.nan)


def _binary_predictions(pred: numpy.ndarray, threshold: float) -> numpy.ndarray:
    """0/1 predictions (MXNet 2's rule): the positive-class score > threshold, from (N, 2) scores
    (column 1) or (N,) / (N, 1) probabilities."""
    if pred.ndim == 2 and pred.shape[1] == 2:
        pred = pred[:, 1]
    return (pred.reshape(-1) > threshold).astype(numpy.int64)


class _BinaryCounts(EvalMetric):
    """True/false positives/negatives of a binary classifier. average='micro' scores the counts over
    everything seen; 'macro' averages the per-update scores."""

    def __init__(self, name: str, output_names, label_names, class_type: str, threshold: float, average: str,
                 **config):
        if class_type != "binary":
            raise ValueError(f"{type(self).__name__}: class_type must be 'binary', got {class_type!r}")
        if average not in ("micro", "macro"):
            raise ValueError(f"{type(self).__name__}: average must be 'micro' or 'macro', got {average!r}")
        self.threshold, self.average = threshold, average
        super().__init__(name, output_names, label_names, class_type=class_type, threshold=threshold,
                         average=average, **config)

    def reset(self) -> None:
        super().reset()
        self.counts = numpy.zeros(4)  # tp, fp, fn, tn over everything seen

    def score(self, tp: float, fp: float, fn: float, tn: float) -> float:
        raise NotImplementedError

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            guess = _binary_predictions(pred, self.threshold)
            label = label.reshape(-1).astype(numpy.int64)
            if label.shape != guess.shape:
                raise ShapeError(f"{type(self).__name__}: {label.size} labels for {guess.size} predictions")
            if numpy.any((label != 0) & (label != 1)):
                raise ValueError(f"{type(self).__name__}: binary labels must be 0 or 1")
            batch = numpy.array([((guess == 1) & (label == 1)).sum(), ((guess == 1) & (label == 0)).sum(),
                                 ((guess == 0) & (label == 1)).sum(), ((guess == 0) & (label == 0)).sum()], float)
            self.counts += batch
            if self.average == "macro":
                self.sum_metric += self.score(*batch)
                self.num_inst += 1
            else:
                self.num_inst += label.size

    def get(self):
        if self.num_inst == 0:
            return self.name, math.nan
        if self.average == "macro":
            return self.name, self.sum_metric / self.num_inst
        return self.name, self.score(*self.counts)


class Fbeta(EvalMetric):
    """(1 + beta^2) P R / (beta^2 P + R), from true/false positive/negative counts over everything seen
    (MXNet 2). class_type 'binary': the positive class (0/1 labels; (N, 2) scores use column 1, or
    (N,) probabilities; > threshold); 'multiclass': every class (argmax of (N, K) scores against class
    labels); 'multilabel': every class of (N, K) 0/1 labels (scores > threshold). average 'micro'
    scores the counts summed over classes, 'macro' averages the classes' scores. num_inst counts samples."""

    def __init__(self, name: str = "fbeta", output_names=None, label_names=None, class_type: str = "binary",
                 beta: float = 1.0, threshold: float = 0.5, average: str = "micro"):
        if class_type not in ("binary", "multiclass", "multilabel"):
            raise ValueError(f"{type(self).__name__}: class_type must be 'binary', 'multiclass' or 'multilabel', "
                             f"got {class_type!r}")
        if average not in ("micro", "macro"):
            raise ValueError(f"{type(self).__name__}: average must be 'micro' or 'macro', got {average!r}")
        self.class_type, self.beta, self.threshold, self.average = class_type, beta, threshold, average
        super().__init__(name, output_names, label_names, class_type=class_type, beta=beta, threshold=threshold,
                         average=average)

    def reset(self) -> None:
        super().reset()
        self.counts: Optional[numpy.ndarray] = None   # (4, classes): tp, fp, fn per class, and samples

    def _indicators(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        """(label, prediction) as (samples, classes) 0/1 matrices."""
        what = type(self).__name__
        if self.class_type == "binary":
            guess, label = _binary_predictions(pred, self.threshold), label.reshape(-1).astype(numpy.int64)
            if numpy.any((label != 0) & (label != 1)):
                raise ValueError(f"{what}: binary labels must be 0 or 1 (use class_type='multiclass')")
            if label.shape != guess.shape:
                raise ShapeError(f"{what}: {label.size} labels for {guess.size} predictions")
            return label[:, None], guess[:, None]
        classes = pred.shape[-1]
        if self.class_type == "multiclass":
            label = label.reshape(-1).astype(numpy.int64)
            if label.size and (label.min() < 0 or label.max() >= classes):
                raise ValueError(f"{what}: labels must be class indices below {classes} (the scores' last axis)")
            eye = numpy.eye(classes, dtype=numpy.int64)
            return eye[label], eye[pred.reshape(-1, classes).argmax(axis=1)]
        if label.shape != pred.shape:
            raise ShapeError(f"{what}: multilabel labels {label.shape} and predictions {pred.shape} must match")
        return label.reshape(-1, classes).astype(numpy.int64), (pred.reshape(-1, classes) > self.threshold).astype(
            numpy.int64)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            truth, guess = self._indicators(label, pred)
            batch = numpy.stack([(guess & truth).sum(0), (guess & (1 - truth)).sum(0), ((1 - guess) & truth).sum(0)])
            if self.counts is not None and self.counts.shape[1] != batch.shape[1]:
                raise ShapeError(f"{type(self).__name__}: the number of classes changed from {self.counts.shape[1]} "
                                 f"to {batch.shape[1]}")
            self.counts = batch.astype(float) if self.counts is None else self.counts + batch
            self.num_inst += truth.shape[0]

    def score(self, tp, fp, fn):
        precision = numpy.where(tp + fp > 0, tp / numpy.maximum(tp + fp, 1e-300), 0.0)
        recall = numpy.where(tp + fn > 0, tp / numpy.maximum(tp + fn, 1e-300), 0.0)
        b2 = self.beta ** 2
        denominator = b2 * precision + recall
        return numpy.where(denominator > 0, (1 + b2) * precision * recall / numpy.maximum(denominator, 1e-300), 0.0)

    def get(self):
        if not self.num_inst:
            return self.name, math.nan
        tp, fp, fn = self.counts
        if self.average == "micro":
            return self.name, float(self.score(tp.sum(), fp.sum(), fn.sum()))
        return self.name, float(self.score(tp, fp, fn).mean())


class F1(Fbeta):
    def __init__(self, name: str = "f1", output_names=None, label_names=None, class_type: str = "binary",
                 threshold: float = 0.5, average: str = "micro"):
        super().__init__(name, output_names, label_names, class_type, 1.0, threshold, average)
        self._config.pop("beta")


class MCC(_BinaryCounts):
    """Matthews correlation coefficient (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), 0 when undefined."""

    def __init__(self, name: str = "mcc", output_names=None, label_names=None, class_type: str = "binary",
                 threshold: float = 0.5, average: str = "micro"):
        super().__init__(name, output_names, label_names, class_type, threshold, average)

    def score(self, tp, fp, fn, tn):
        denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return (tp * tn - fp * fn) / denom if denom else 0.0


class BinaryAccuracy(EvalMetric):
    """Fraction of correct 0/1 predictions, a prediction being pred > threshold."""

    def __init__(self, name: str = "binary_accuracy", output_names=None, label_names=None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name, output_names, label_names, threshold=threshold)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            guess = (pred.reshape(-1) > self.threshold)
            self.sum_metric += float((guess == (label.reshape(-1) > 0.5)).sum())
            self.num_inst += guess.size


class PCC(EvalMetric):
    """The multiclass generalization of MCC (Gorodkin's R_K), from the confusion matrix of everything
    seen; predictions are class scores (argmax along axis 1) or class indices."""

    def __init__(self, name: str = "pcc", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def reset(self) -> None:
        super().reset()
        self.confusion = numpy.zeros((0, 0))

    def _grow(self, k: int) -> None:
        if k > self.confusion.shape[0]:
            grown = numpy.zeros((k, k))
            n = self.confusion.shape[0]
            grown[:n, :n] = self.confusion
            self.confusion = grown

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            guess = pred.argmax(axis=1) if pred.ndim == 2 else pred.reshape(-1)
            label, guess = label.reshape(-1).astype(numpy.int64), guess.astype(numpy.int64)
            self._grow(int(max(label.max(initial=0), guess.max(initial=0))) + 1)
            numpy.add.at(self.confusion, (label, guess), 1)
            self.num_inst += label.size

    def get(self):
        if self.num_inst == 0:
            return self.name, math.nan
        c = self.confusion
        total, correct = c.sum(), numpy.trace(c)
        predicted, actual = c.sum(axis=0), c.sum(axis=1)
        denom = math.sqrt((total ** 2 - (predicted ** 2).sum()) * (total ** 2 - (actual ** 2).sum()))
        return self.name, float((correct * total - (predicted * actual).sum()) / denom) if denom else 0.0


class Perplexity(EvalMetric):
    """exp(mean -log p(label)) over labels other than `ignore_label`; class probabilities along `axis`."""

    def __init__(self, eps: float = 1e-12, ignore_label: Optional[int] = None, axis: int = -1,
                 name: str = "perplexity", output_names=None, label_names=None):
        self.eps, self.ignore_label, self.axis = eps, ignore_label, axis
        super().__init__(name, output_names, label_names, eps=eps, ignore_label=ignore_label, axis=axis)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            probs = numpy.moveaxis(pred, self.axis, -1).reshape(-1, pred.shape[self.axis])
            label = label.reshape(-1).astype(numpy.int64)
            if label.size != probs.shape[0]:
                raise ShapeError(f"Perplexity: {label.size} labels for {probs.shape[0]} distributions")
            keep = label != self.ignore_label if self.ignore_label is not None else numpy.ones(label.size, bool)
            picked = probs[numpy.arange(label.size)[keep], label[keep]]
            self.sum_metric += float(-numpy.log(numpy.maximum(picked, self.eps)).sum())
            self.num_inst += int(keep.sum())

    def get(self):
        return self.name, (math.exp(self.sum_metric / self.num_inst) if self.num_inst else math.nan)


class PearsonCorrelation(EvalMetric):
    """Pearson's r between labels and predictions: 'micro' (the default, MXNet 2's only mode) computes
    one coefficient over everything seen, 'macro' averages per-update coefficients (MXNet 1.x)."""

    def __init__(self, name: str = "pearsonr", output_names=None, label_names=None, average: str = "micro"):
        if average not in ("micro", "macro"):
            raise ValueError(f"PearsonCorrelation: average must be 'micro' or 'macro', got {average!r}")
        self.average = average
        super().__init__(name, output_names, label_names, average=average)

    def reset(self) -> None:
        super().reset()
        self.moments = numpy.zeros(5)  # sum x, sum y, sum xx, sum yy, sum xy
        self.count = 0

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            x, y = label.reshape(-1).astype(numpy.float64), pred.reshape(-1).astype(numpy.float64)
            if x.size != y.size:
                raise ShapeError(f"PearsonCorrelation: {x.size} labels for {y.size} predictions")
            if self.average == "macro":
                self.sum_metric += float(numpy.corrcoef(x, y)[0, 1])
                self.num_inst += 1
            else:
                self.moments += [x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
                self.count += x.size
                self.num_inst += x.size

    def get(self):
        if self.num_inst == 0:
            return self.name, math.nan
        if self.average == "macro":
            return self.name, self.sum_metric / self.num_inst
        n = self.count
        sx, sy, sxx, syy, sxy = self.moments
        return self.name, float((n * sxy - sx * sy) / math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)))


class MeanPairwiseDistance(EvalMetric):
    """Mean over samples of the p-norm of label - pred."""

    def __init__(self, name: str = "mpd", output_names=None, label_names=None, p: float = 2):
        self.p = p
        super().__init__(name, output_names, label_names, p=p)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            diff = (label.reshape(pred.shape) - pred).reshape(pred.shape[0], -1).astype(numpy.float64)
            self.sum_metric += float((numpy.abs(diff) ** self.p).sum(axis=1).__pow__(1.0 / self.p).sum())
            self.num_inst += pred.shape[0]


class MeanCosineSimilarity(EvalMetric):
    """Mean cosine similarity of label and pred along `axis`."""

    def __init__(self, name: str = "cos_sim", output_names=None, label_names=None, axis: int = -1,
                 eps: float = 1e-8):
        self.axis, self.eps = axis, eps
        super().__init__(name, output_names, label_names, axis=axis, eps=eps)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            label = label.reshape(pred.shape).astype(numpy.float64)
            dot = (label * pred).sum(axis=self.axis)
            norms = numpy.maximum(numpy.linalg.norm(label, axis=self.axis) * numpy.linalg.norm(pred, axis=self.axis),
                                  self.eps)
            sims = dot / norms
            self.sum_metric += float(sims.sum())
            self.num_inst += sims.size


class NegativeLogLikelihood(EvalMetric):
    """Mean -log p(label) of class probabilities (MXNet's nll_loss metric)."""

    def __init__(self, eps: float = 1e-12, name: str = "nll-loss", output_names=None, label_names=None):
        self.eps = eps
        super().__init__(name, output_names, label_names, eps=eps)

    def update(self, labels, preds) -> None:
        for label, pred in _pairs(labels, preds):
            label = label.reshape(-1).astype(numpy.int64)
            picked = pred.reshape(label.size, -1)[numpy.arange(label.size), label]
            self.sum_metric += float(-numpy.log(picked + self.eps).sum())
            self.num_inst += label.size


class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; get() returns (names, values)."""

    def __init__(self, metrics=None, name: str = "composite", output_names=None, label_names=None):
        self.metrics = []
        super().__init__(name, output_names, label_names)
        for m in metrics or []:
            self.add(m)

    def add(self, metric) -> None:
        from .metric import create
        self.metrics.append(create(metric))

    def get_metric(self, index: int) -> EvalMetric:
        return self.metrics[index]

    def reset(self) -> None:
        super().reset()
        for m in getattr(self, "metrics", []):
            m.reset()

    def update(self, labels, preds) -> None:
        for m in self.metrics:
            m.update(labels, preds)

    def get(self):
        names, values = [], []
        for m in self.metrics:
            name, value = m.get()
            names += _as_list(name)
            values += _as_list(value)
        return names, values

    def get_name_value(self):
        names, values = self.get()
        return list(zip(names, values))

    def get_config(self) -> dict:
        config = super().get_config()
        config["metrics"] = [m.get_config() for m in self.metrics]
        return config


class CustomMetric(EvalMetric):
    """A metric from feval(label, pred) -> value, or (sum, count), per label/prediction pair (NumPy arrays)."""

    def __init__(self, feval: Callable, name: Optional[str] = None, allow_extra_outputs: bool = False,
                 output_names=None, label_names=None):
        self._feval, self._allow_extra_outputs = feval, allow_extra_outputs
        super().__init__(name or f"custom({getattr(feval, '__name__', 'feval')})", output_names, label_names)

    def update(self, labels, preds) -> None:
        if not self._allow_extra_outputs:
            pairs = _pairs(labels, preds)
        else:
            pairs = [(numpy.asarray(l), numpy.asarray(p)) for l, p in zip(_as_list(labels), _as_list(preds))]
        for label, pred in pairs:
            result = self._feval(label, pred)
            if isinstance(result, tuple):
                self.sum_metric += float(result[0])
                self.num_inst += int(result[1])
            else:
                self.sum_metric += float(result)
                self.num_inst += 1


def np(numpy_feval: Callable, name: Optional[str] = None, allow_extra_outputs: bool = False) -> CustomMetric:
    """A CustomMetric from a function of NumPy arrays (MXNet's metric.np)."""
    return CustomMetric(numpy_feval, name or getattr(numpy_feval, "__name__", None), allow_extra_outputs)
