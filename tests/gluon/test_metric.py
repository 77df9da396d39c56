"""Metrics against values computed here in NumPy, with Gluon's update/get/reset semantics."""
import math

import numpy as onp
import pytest

import hybrid as hb
from hybrid.gluon import metric

RNG = onp.random.default_rng(2)


def test_accuracy_from_scores_and_from_class_ids():
    scores = RNG.normal(size=(8, 4)).astype(onp.float32)
    labels = RNG.integers(0, 4, size=8)
    m = metric.Accuracy()
    assert math.isnan(m.get()[1])
    m.update(hb.np.array(labels.astype(onp.int32)), hb.np.array(scores))
    m.update([labels[:3]], [scores[:3].argmax(axis=1)])          # lists and predicted ids work too
    correct = (scores.argmax(1) == labels).sum() + (scores[:3].argmax(1) == labels[:3]).sum()
    assert m.get() == ("accuracy", pytest.approx(correct / 11))
    m.reset()
    assert m.num_inst == 0 and math.isnan(m.get()[1])


def test_top_k_accuracy():
    scores = RNG.normal(size=(20, 6))
    labels = RNG.integers(0, 6, size=20)
    m = metric.TopKAccuracy(top_k=3)
    m.update(labels, scores)
    rank = (scores > scores[onp.arange(20), labels][:, None]).sum(axis=1)   # classes scoring higher
    assert m.get() == ("top_k_accuracy_3", pytest.approx((rank < 3).mean()))
    m1 = metric.TopKAccuracy(top_k=1)
    m1.update(labels, scores)
    assert m1.get()[1] == pytest.approx((scores.argmax(1) == labels).mean())


def test_cross_entropy_from_probabilities_and_logits():
    logits = RNG.normal(size=(5, 3))
    probs = onp.exp(logits) / onp.exp(logits).sum(axis=1, keepdims=True)
    labels = onp.array([0, 2, 1, 1, 0])
    want = -onp.log(probs[onp.arange(5), labels]).mean()
    m = metric.CrossEntropy()
    m.update(labels, probs)
    assert m.get()[1] == pytest.approx(want, rel=1e-6)
    ml = metric.CrossEntropy(from_logits=True)
    ml.update(labels, logits * 1.0)
    assert ml.get()[1] == pytest.approx(want, rel=1e-6)


def test_loss_metric_averages_values():
    m = metric.Loss()
    m.update(None, hb.np.array(onp.array([1.0, 2.0, 3.0], onp.float32)))
    m.update(None, [onp.array([6.0])])
    assert m.get() == ("loss", pytest.approx(3.0))


def test_metric_errors_and_create():
    with pytest.raises(hb.ShapeError, match="2 label arrays for 1 prediction arrays"):
        metric.Accuracy().update([onp.zeros(2), onp.zeros(2)], [onp.zeros(2)])
    with pytest.raises(hb.ShapeError, match="3 labels for 2 predictions"):
        metric.Accuracy().update(onp.zeros(3), onp.zeros((2, 4)))
    with pytest.raises(hb.ShapeError, match="TopKAccuracy: expected \\(batch, classes\\) scores"):
        metric.TopKAccuracy(2).update(onp.zeros(3), onp.zeros(3))
    assert isinstance(metric.create("acc"), metric.Accuracy)
    assert metric.create("top_k_accuracy", top_k=5).top_k == 5
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        metric.create("f2")
