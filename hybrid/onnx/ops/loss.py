"""ONNX's loss ops (inference forms): SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss."""
from __future__ import annotations

import numpy

from ...frontend import np, npx
from ...core.promote import cast
from .base import OnnxNode, converts
from .shape import const_array


def _nll(node: OnnxNode, log_prob, labels, weights):
    """-log_prob[n, label, ...] (times the class weight), reduced as `reduction` says."""
    classes = log_prob.shape[1]
    ignore = node.attr("ignore_index", None)
    labels = cast(labels, "i64")
    keep = None
    if ignore is not None:
        keep = labels != ignore
        labels = np.where(keep, labels, np.zeros((), "int64"))
    positions = const_array(numpy.arange(classes, dtype=numpy.int64).reshape((1, -1) + (1,) * (labels.ndim - 1)))
    hit = np.expand_dims(labels, 1) == positions
    picked = np.sum(np.where(hit, log_prob, np.zeros((), log_prob.dtype)), 1)
    weight = np.take(weights, labels, axis=0) if weights is not None else np.ones(labels.shape, log_prob.dtype)
    if keep is not None:
        weight = np.where(keep, weight, np.zeros((), weight.dtype))
    loss = -picked * weight
    reduction = node.attr("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    if reduction == "mean":
        return np.sum(loss) / np.sum(weight)
    raise node.fail(f"reduction {reduction!r} is not one of none, sum, mean")


@converts("NegativeLogLikelihoodLoss")
def _nll_loss(node: OnnxNode):
    return _nll(node, node.input(0), node.input(1), node.optional(2))


@converts("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(node: OnnxNode):
    log_prob = npx.log_softmax(node.input(0), axis=1)
    loss = _nll(node, log_prob, node.input(1), node.optional(2))
    return (loss, log_prob) if node.num_outputs > 1 else loss
