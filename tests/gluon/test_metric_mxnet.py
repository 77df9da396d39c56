"""Metrics added for MXNet parity, against scikit-learn / SciPy / NumPy on the same data."""
import math

import numpy as onp
import pytest

import hybrid as mx
from hybrid.gluon import metric

sklearn_metrics = pytest.importorskip("sklearn.metrics")
R = onp.random.default_rng(2)
LABELS = [R.integers(0, 2, size=20) for _ in range(3)]
SCORES = [R.random((20, 2)).astype(onp.float32) for _ in range(3)]


def _feed(m, labels, preds):
    for label, pred in zip(labels, preds):
        m.update([mx.np.array(label)], [mx.np.array(pred)])
    return m.get()[1]


def test_regression_metrics():
    labels = [R.standard_normal((8, 3)) for _ in range(2)]
    preds = [R.standard_normal((8, 3)) for _ in range(2)]
    y, p = onp.concatenate(labels), onp.concatenate(preds)
    assert math.isclose(_feed(metric.MAE(), labels, preds), sklearn_metrics.mean_absolute_error(y, p))
    assert math.isclose(_feed(metric.MSE(), labels, preds), sklearn_metrics.mean_squared_error(y, p))
    assert math.isclose(_feed(metric.RMSE(), labels, preds), math.sqrt(sklearn_metrics.mean_squared_error(y, p)))


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_f1_and_mcc(average):
    guesses = [(s[:, 1] > 0.5).astype(int) for s in SCORES]   # MXNet 2: the positive column > threshold
    y, g = onp.concatenate(LABELS), onp.concatenate(guesses)
    # F1/Fbeta count over everything seen; a binary problem has one class, so macro == micro
    f1, fb = sklearn_metrics.f1_score(y, g), sklearn_metrics.fbeta_score(y, g, beta=2)
    if average == "micro":
        mcc = sklearn_metrics.matthews_corrcoef(y, g)
    else:
        mcc = onp.mean([sklearn_metrics.matthews_corrcoef(y, g) for y, g in zip(LABELS, guesses)])
    assert math.isclose(_feed(metric.F1(average=average), LABELS, SCORES), f1, rel_tol=1e-9)
    assert math.isclose(_feed(metric.MCC(average=average), LABELS, SCORES), mcc, rel_tol=1e-9)
    assert math.isclose(_feed(metric.Fbeta(beta=2, average=average), LABELS, SCORES), fb, rel_tol=1e-9)
    m = metric.F1()
    _feed(m, LABELS, SCORES)
    assert m.num_inst == sum(len(lb) for lb in LABELS)      # samples, as MXNet 2
    # (N,) probabilities with a threshold
    probs = [s[:, 1] for s in SCORES]
    f1_t = _feed(metric.F1(threshold=0.3), LABELS, probs)
    assert math.isclose(f1_t, sklearn_metrics.f1_score(onp.concatenate(LABELS), onp.concatenate(probs) > 0.3))


def test_pcc_perplexity_pearson():
    labels = [R.integers(0, 4, size=30) for _ in range(2)]
    scores = [R.random((30, 4)) for _ in range(2)]
    y, g = onp.concatenate(labels), onp.concatenate([s.argmax(1) for s in scores])
    assert math.isclose(_feed(metric.PCC(), labels, scores), sklearn_metrics.matthews_corrcoef(y, g), rel_tol=1e-9)
    probs = [s / s.sum(1, keepdims=True) for s in scores]
    p = onp.concatenate(probs)
    expected = math.exp(-onp.log(p[onp.arange(len(y)), y]).mean())
    assert math.isclose(_feed(metric.Perplexity(), labels, probs), expected, rel_tol=1e-9)
    keep = y != 0
    expected = math.exp(-onp.log(p[onp.arange(len(y)), y][keep]).mean())
    assert math.isclose(_feed(metric.Perplexity(ignore_label=0), labels, probs), expected, rel_tol=1e-9)
    xs, ys = [R.standard_normal(10) for _ in range(2)], [R.standard_normal(10) for _ in range(2)]
    macro = onp.mean([onp.corrcoef(a, b)[0, 1] for a, b in zip(xs, ys)])
    assert math.isclose(_feed(metric.PearsonCorrelation(average="macro"), xs, ys), macro, rel_tol=1e-9)
    micro = onp.corrcoef(onp.concatenate(xs), onp.concatenate(ys))[0, 1]
    assert math.isclose(_feed(metric.PearsonCorrelation(), xs, ys), micro, rel_tol=1e-9)   # MXNet 2: all seen


def test_composite_create_config_custom():
    comp = metric.create(["acc", "f1", metric.MCC()])
    assert isinstance(comp, metric.CompositeEvalMetric)
    comp.update([mx.np.array(LABELS[0])], [mx.np.array(SCORES[0])])
    names, values = comp.get()
    assert names == ["accuracy", "f1", "mcc"] and len(values) == 3
    assert math.isclose(values[0], (SCORES[0].argmax(1) == LABELS[0]).mean())
    config = metric.F1(average="macro", threshold=0.4).get_config()
    assert config["metric"] == "F1" and config["average"] == "macro" and config["threshold"] == 0.4
    rebuilt = metric.create(**config)
    assert isinstance(rebuilt, metric.F1) and rebuilt.average == "macro" and rebuilt.threshold == 0.4
    assert isinstance(metric.create("RMSE"), metric.RMSE) and isinstance(metric.create("pearsonr"),
                                                                         metric.PearsonCorrelation)
    custom = metric.create(lambda y, p: float(onp.abs(y - p).max()), name="maxerr")
    custom.update([onp.array([1.0, 2.0])], [onp.array([1.5, 2.0])])
    assert custom.get() == ("maxerr", 0.5)
    np_metric = metric.np(lambda y, p: (float(((y - p) ** 2).sum()), y.size))
    np_metric.update([onp.array([1.0, 2.0])], [onp.array([0.0, 2.0])])
    assert np_metric.get()[1] == 0.5
    with pytest.raises(ValueError, match="unknown metric"):
        metric.create("no-such-metric")
    assert mx.metric.F1 is metric.F1


def test_distances_and_binary_accuracy():
    label, pred = R.standard_normal((6, 3)), R.standard_normal((6, 3))
    assert math.isclose(_feed(metric.MeanPairwiseDistance(), [label], [pred]),
                        onp.linalg.norm(label - pred, axis=1).mean())
    cos = (label * pred).sum(1) / (onp.linalg.norm(label, axis=1) * onp.linalg.norm(pred, axis=1))
    assert math.isclose(_feed(metric.MeanCosineSimilarity(), [label], [pred]), cos.mean())
    probs = R.random(10)
    y = R.integers(0, 2, size=10)
    assert math.isclose(_feed(metric.BinaryAccuracy(threshold=0.4), [y], [probs]), ((probs > 0.4) == y).mean())


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_f1_multiclass_and_multilabel_match_sklearn(average):
    labels = [R.integers(0, 4, size=15) for _ in range(2)]
    scores = [R.random((15, 4)).astype(onp.float32) for _ in range(2)]
    y, g = onp.concatenate(labels), onp.concatenate([s.argmax(1) for s in scores])
    want = sklearn_metrics.f1_score(y, g, average=average, labels=range(4))
    assert math.isclose(_feed(metric.F1(class_type="multiclass", average=average), labels, scores), want,
                        rel_tol=1e-9)
    tags = [R.integers(0, 2, size=(10, 3)) for _ in range(2)]
    probs = [R.random((10, 3)).astype(onp.float32) for _ in range(2)]
    want = sklearn_metrics.fbeta_score(onp.concatenate(tags), onp.concatenate(probs) > 0.4, beta=0.5, average=average)
    got = _feed(metric.Fbeta(class_type="multilabel", beta=0.5, threshold=0.4, average=average), tags, probs)
    assert math.isclose(got, want, rel_tol=1e-9)


def test_create_from_a_json_config():
    import json
    m = metric.create(json.dumps(metric.F1(average="macro", threshold=0.3).get_config()))
    assert isinstance(m, metric.F1) and m.average == "macro" and m.threshold == 0.3
    with pytest.raises(ValueError, match="'metric' field"):
        metric.create('{"average": "macro"}')
