"""Losses (Gluon names and semantics). Each is a HybridBlock called as
`loss(pred, label, sample_weight=None)` and returns one value per sample: the elementwise loss
averaged over every axis but `batch_axis`, times `weight` and `sample_weight` when given.
Composites of hb.np/npx primitives, so they run eagerly, traced, and differentiate."""
from __future__ import annotations

import inspect
import math
from typing import Optional

from ..errors import ShapeError
from ..frontend import np, npx
from ..core.array import Array
from ..frontend.block import HybridBlock
from ..core.promote import asarray
from ..core.source import user_line


def _shape_error(loss: "Loss", message: str) -> ShapeError:
    line = user_line()
    where = f"\n  {line.describe()}" if line else ""
    return ShapeError(f"{type(loss).__name__}: {message}{where}")


class Loss(HybridBlock):
    """Base class: weighting and the per-sample mean. `sample_weight` broadcasts against the
    elementwise loss; a 1-d weight with one entry per sample weights whole samples."""

    def __init__(self, weight: Optional[float] = None, batch_axis: int = 0):
        super().__init__()
        self._weight = weight
        self._batch_axis = batch_axis

    def __call__(self, *args, **kwargs):
        # Keyword arguments (sample_weight=...) become positional: a compiled block caches on those.
        if kwargs:
            bound = inspect.signature(self.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args = bound.args
        return super().__call__(*args)

    def _per_sample(self, loss: Array, sample_weight=None) -> Array:
        if sample_weight is not None:
            sample_weight = asarray(sample_weight)
            batch_axis = self._batch_axis % max(loss.ndim, 1)
            if sample_weight.ndim == 1 < loss.ndim and sample_weight.shape[0] == loss.shape[batch_axis]:
                # one weight per sample: align it with the batch axis, not the last axis
                shape = [1] * loss.ndim
                shape[batch_axis] = sample_weight.shape[0]
                sample_weight = np.reshape(sample_weight, shape)
            loss = loss * sample_weight
        if self._weight is not None:
            loss = loss * float(self._weight)
        axes = tuple(i for i in range(loss.ndim) if i != self._batch_axis % max(loss.ndim, 1))
        return np.mean(loss, axis=axes) if axes else loss

    def _label_like(self, pred: Array, label) -> Array:
        """The label reshaped to pred's shape (Gluon allows e.g. (N,) labels for (N, 1) predictions)."""
        label = asarray(label)
        if label.shape == pred.shape:
            return label
        if label.size != pred.size:
            raise _shape_error(self, f"label shape {label.shape} does not match prediction shape {pred.shape}; "
                                     "pass one label per prediction element")
        return np.reshape(label, pred.shape)

    def _extra_repr(self) -> str:
        return f"batch_axis={self._batch_axis}, w={self._weight}"


class L2Loss(Loss):
    """0.5 * (pred - label)^2, as Gluon."""

    def forward(self, pred, label, sample_weight=None):
        label = self._label_like(pred, label)
        diff = pred - label
        return self._per_sample(diff * diff * 0.5, sample_weight)


class L1Loss(Loss):
    """|pred - label|."""

    def forward(self, pred, label, sample_weight=None):
        label = self._label_like(pred, label)
        return self._per_sample(np.abs(pred - label), sample_weight)


class HuberLoss(Loss):
    """Smooth L1: 0.5/rho * d^2 where |d| <= rho, else |d| - 0.5 rho (d = pred - label)."""

    def __init__(self, rho: float = 1.0, weight: Optional[float] = None, batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        if rho <= 0:
            raise ValueError(f"HuberLoss: rho must be positive, got {rho}")
        self._rho = float(rho)

    def forward(self, pred, label, sample_weight=None):
        label = self._label_like(pred, label)
        d = np.abs(pred - label)
        loss = np.where(d > self._rho, d - 0.5 * self._rho, d * d * (0.5 / self._rho))
        return self._per_sample(loss, sample_weight)


class SigmoidBinaryCrossEntropyLoss(Loss):
    """Binary cross-entropy. With from_sigmoid=False (default) `pred` are logits and the loss is
    computed stably as relu(x) - x*y + log(1 + exp(-|x|)); `pos_weight` scales the positive term."""

    def __init__(self, from_sigmoid: bool = False, weight: Optional[float] = None, batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        self._from_sigmoid = from_sigmoid

    def forward(self, pred, label, sample_weight=None, pos_weight=None):
        label = self._label_like(pred, label)
        if not self._from_sigmoid:
            log_term = np.log(np.exp(-np.abs(pred)) + 1.0)  # log(1 + e^-|x|): never overflows
            if pos_weight is None:
                loss = npx.relu(pred) - pred * label + log_term
            else:
                log_weight = (asarray(pos_weight) - 1.0) * label + 1.0
                loss = pred - pred * label + log_weight * (log_term + npx.relu(-pred))
        else:
            eps = 1e-12
            positive = np.log(pred + eps) * label
            if pos_weight is not None:
                positive = positive * asarray(pos_weight)
            loss = -(positive + np.log(1.0 - pred + eps) * (1.0 - label))
        return self._per_sample(loss, sample_weight)


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


class SoftmaxCrossEntropyLoss(Loss):
    """Cross-entropy of softmax(pred) along `axis`, via log_softmax (stable for any logits).

    sparse_label=True: `label` holds class indices (shape of pred without `axis`, or with a
    trailing 1); otherwise a distribution of pred's shape. Gluon's from_logits=True means
    `pred` already holds log-probabilities (log_softmax is then skipped)."""

    def __init__(self, axis: int = -1, sparse_label: bool = True, from_logits: bool = False,
                 weight: Optional[float] = None, batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        self._axis, self._sparse_label, self._from_logits = axis, sparse_label, from_logits

    def forward(self, pred, label, sample_weight=None):
        axis = self._axis % pred.ndim
        logp = pred if self._from_logits else npx.log_softmax(pred, axis)
        label = asarray(label)
        if self._sparse_label:
            loss = -np.sum(logp * self._one_hot(pred, label, axis), axis=axis, keepdims=True)
        else:
            if label.shape != pred.shape:
                raise _shape_error(self, f"dense label shape {label.shape} does not match prediction shape "
                                         f"{pred.shape}; pass sparse_label=True for class-index labels")
            loss = -np.sum(logp * label, axis=axis, keepdims=True)
        return self._per_sample(loss, sample_weight)

    def _one_hot(self, pred: Array, label: Array, axis: int) -> Array:
        expected = pred.shape[:axis] + pred.shape[axis + 1:]
        if label.shape == expected + (1,):
            label = np.reshape(label, expected)
        if label.shape != expected:
            raise _shape_error(self, f"sparse label shape {label.shape} does not match prediction shape "
                                     f"{pred.shape}: expected {expected} (one class index per sample along "
                                     f"axis {self._axis}); for one-hot or soft labels pass sparse_label=False")
        label = npx.checked_indices(np.astype(label, "int32"), pred.shape[axis], f"{type(self).__name__}: label")
        hot = npx.one_hot(label, pred.shape[axis], dtype=pred.dtype)
        return np.moveaxis(hot, -1, axis) if axis != pred.ndim - 1 else hot


SoftmaxCELoss = SoftmaxCrossEntropyLoss

def _softplus(x: Array) -> Array:
    """log(1 + exp(x)), stable for any x."""
    return npx.relu(x) + np.log1p(np.exp(-np.abs(x)))


class LogisticLoss(Loss):
    """log(1 + exp(-pred * label)) for labels in {-1, 1} (label_format='signed') or {0, 1} ('binary')."""

    def __init__(self, weight: Optional[float] = None, batch_axis: int = 0, label_format: str = "signed"):
        super().__init__(weight, batch_axis)
        if label_format not in ("signed", "binary"):
            raise ValueError(f"LogisticLoss: label_format must be 'signed' or 'binary', got {label_format!r}")
        self._label_format = label_format

    def forward(self, pred, label, sample_weight=None):
        label = self._label_like(pred, label)
        signed = label if self._label_format == "signed" else label * 2.0 - 1.0
        return self._per_sample(_softplus(-pred * signed), sample_weight)


class HingeLoss(Loss):
    """max(0, margin - pred * label), labels in {-1, 1} (SVMs)."""

    def __init__(self, margin: float = 1.0, weight: Optional[float] = None, batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        self._margin = float(margin)

    def _hinge(self, pred, label):
        return npx.relu(self._margin - pred * self._label_like(pred, label))

    def forward(self, pred, label, sample_weight=None):
        return self._per_sample(self._hinge(pred, label), sample_weight)


class SquaredHingeLoss(HingeLoss):
    """max(0, margin - pred * label)^2."""

    def forward(self, pred, label, sample_weight=None):
        hinge = self._hinge(pred, label)
        return self._per_sample(hinge * hinge, sample_weight)


class KLDivLoss(Loss):
    """label * (log(label) - log_pred): the KL divergence of pred's distribution from label's.
    from_logits=True (default) means `pred` holds log-probabilities; otherwise log_softmax is taken
    along `axis`."""

    def __init__(self, from_logits: bool = True, axis: int = -1, weight: Optional[float] = None,
                 batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        self._from_logits, self._axis = from_logits, axis

    def forward(self, pred, label, sample_weight=None):
        logp = pred if self._from_logits else npx.log_softmax(pred, self._axis)
        label = self._label_like(logp, label)
        return self._per_sample(label * (np.log(label + 1e-12) - logp), sample_weight)


class CosineEmbeddingLoss(Loss):
    """1 - cos(input1, input2) for label 1; max(0, cos - margin) for label -1 (cosine along the last axis)."""

    def __init__(self, weight: Optional[float] = None, batch_axis: int = 0, margin: float = 0.0):
        super().__init__(weight, batch_axis)
        self._margin = float(margin)

    def forward(self, input1, input2, label, sample_weight=None):
        input1 = self._label_like(input2, input1)
        dot = np.sum(input1 * input2, axis=-1)
        norms = np.sqrt(np.sum(input1 * input1, axis=-1) * np.sum(input2 * input2, axis=-1))
        cos = np.reshape(dot / np.maximum(norms, 1e-12), (-1, 1))
        label = np.reshape(asarray(label), (-1, 1))
        loss = np.where(label == 1, 1.0 - cos, np.where(label == -1, npx.relu(cos - self._margin), 0.0))
        return self._per_sample(loss, sample_weight)


class PoissonNLLLoss(Loss):
    """Poisson negative log-likelihood: exp(pred) - target * pred (from_logits: pred = log rate), or
    pred - target * log(pred + epsilon); compute_full adds Stirling's approximation of log(target!)
    where target > 1. Returns the mean over the non-batch axes (one loss per sample), as MXNet 2
    (MXNet 1.x returned the mean over all elements)."""

    def __init__(self, weight: Optional[float] = None, from_logits: bool = True, batch_axis: int = 0,
                 compute_full: bool = False):
        super().__init__(weight, batch_axis)
        self._from_logits, self._compute_full = from_logits, compute_full

    def forward(self, pred, target, sample_weight=None, epsilon: float = 1e-8):
        target = self._label_like(pred, target)
        if self._from_logits:
            loss = np.exp(pred) - target * pred
        else:
            loss = pred - target * np.log(pred + epsilon)
        if self._compute_full:
            safe = np.maximum(target, 1.0)  # the term only counts where target > 1; keep log() finite elsewhere
            stirling = safe * np.log(safe) - safe + 0.5 * np.log(safe * (2 * math.pi))
            loss = loss + np.where(target > 1, stirling, 0.0)
        return self._per_sample(loss, sample_weight)


class TripletLoss(Loss):
    """max(0, ||pred - positive||^2 - ||pred - negative||^2 + margin), summed over non-batch axes."""

    def __init__(self, margin: float = 1.0, weight: Optional[float] = None, batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        self._margin = float(margin)

    def forward(self, pred, positive, negative, sample_weight=None):
        positive, negative = self._label_like(pred, positive), self._label_like(pred, negative)
        diff = (positive - pred) * (positive - pred) - (negative - pred) * (negative - pred)
        axes = tuple(i for i in range(pred.ndim) if i != self._batch_axis % pred.ndim)
        loss = npx.relu(np.sum(diff, axis=axes) + self._margin)
        return self._per_sample(loss, sample_weight)


class SDMLLoss(Loss):
    """Smoothed deep metric learning loss for paired batches x1[i] <-> x2[i]: the KL divergence
    between softmax(-squared distances) over all pairs and the identity with label smoothing
    (1 - smoothing on matching pairs, smoothing / (N - 1) elsewhere), summed over the batch."""

    def __init__(self, smoothing_parameter: float = 0.3, weight: Optional[float] = 1.0, batch_axis: int = 0):
        super().__init__(weight, batch_axis)
        self._smoothing = float(smoothing_parameter)
        self._kl = KLDivLoss(from_logits=True)

    def forward(self, x1, x2):
        n = x1.shape[0]
        if x2.shape != x1.shape or n < 2:
            raise _shape_error(self, f"needs two batches of the same shape with at least 2 rows, got {x1.shape} "
                                     f"and {x2.shape}")
        diff = np.expand_dims(x1, 1) - np.expand_dims(x2, 0)
        distances = np.sum(diff * diff, axis=tuple(range(2, diff.ndim)))
        eye = np.eye(n, dtype=distances.dtype)
        labels = eye * (1.0 - self._smoothing) + (1.0 - eye) * (self._smoothing / (n - 1))
        loss = self._kl(npx.log_softmax(-distances, axis=1), labels) * n
        return loss * float(self._weight) if self._weight is not None else loss


from .ctc import CTCLoss  # noqa: E402  (CTC builds on Loss)

__all__ = ["Loss", "L2Loss", "L1Loss", "HuberLoss", "SigmoidBinaryCrossEntropyLoss", "SigmoidBCELoss",
           "SoftmaxCrossEntropyLoss", "SoftmaxCELoss", "LogisticLoss", "HingeLoss", "SquaredHingeLoss", "KLDivLoss",
           "CosineEmbeddingLoss", "PoissonNLLLoss", "TripletLoss", "SDMLLoss", "CTCLoss"]
