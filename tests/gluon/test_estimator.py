"""gluon.contrib.estimator: fit/evaluate with metrics and handlers (progress bar, checkpoints,
early stopping, a training-curve PNG)."""
import io
import os

import numpy as onp
import pytest

import hybrid as hb
from hybrid import gluon, nn, np
from hybrid.gluon.contrib.estimator import (CheckpointHandler, EarlyStoppingHandler, Estimator, LoggingHandler,
                                            PlotHandler)


def _problem():
    rng = onp.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(onp.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(onp.int32)
    ds = gluon.data.ArrayDataset(x, y)
    return gluon.data.DataLoader(ds, batch_size=16, shuffle=True, seed=1), gluon.data.DataLoader(ds, batch_size=32)


def test_fit_learns_and_reports(tmp_path):
    train, val = _problem()
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(2))
    net.initialize(hb.init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
    est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), train_metrics=gluon.metric.Accuracy(), val_metrics=gluon.metric.Accuracy(),
                    trainer=trainer)
    log = io.StringIO()
    acc = est.val_metrics[0]
    handlers = [LoggingHandler(metrics=est.train_metrics, file=log),
                CheckpointHandler(str(tmp_path / "ckpt"), "mlp", max_checkpoints=2),
                PlotHandler(str(tmp_path / "curve.png"), est.train_metrics + [est.train_loss_metric])]
    est.fit(train, val_data=val, epochs=6, event_handlers=handlers)
    assert est.epoch == 6 and acc.get()[1] > 0.85
    text = log.getvalue()
    assert "[Epoch 6]" in text and "samples/s" in text and "Training finished" in text
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["mlp-epoch5.params", "mlp-epoch5.states", "mlp-epoch6.params",
                                                    "mlp-epoch6.states"]
    png = (tmp_path / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    names = [n for n, _ in est.evaluate(val)]
    assert names == ["accuracy", "validation loss"]


def test_batches_limit_and_early_stopping():
    train, val = _problem()
    net = nn.Dense(2)
    est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), train_metrics=gluon.metric.Accuracy())
    est.fit(train, batches=3, event_handlers=[LoggingHandler(file=io.StringIO(), progress=False)])
    assert est.epoch == 1
    stopper = EarlyStoppingHandler(est.train_loss_metric, patience=0, min_delta=10.0)
    est.fit(train, epochs=20, event_handlers=[stopper, LoggingHandler(file=io.StringIO(), progress=False)])
    assert stopper.stopped_epoch == 2  # no improvement of 10 after the first epoch
    with pytest.raises(hb.HybridError, match="epochs"):
        est.fit(train)


def test_slow_compiles_print_one_line(capsys, monkeypatch):
    from hybrid.frontend import hybridize as hybridize_module
    monkeypatch.setattr(hybridize_module, "SLOW_COMPILE_SECONDS", 0.0)
    f = hb.hybridize(lambda a: a * 2 + 1, backend="interp")
    f(hb.np.ones(3))
    f(hb.np.ones(3))  # cached: nothing more
    err = capsys.readouterr().err
    assert err.count("[hybrid] compiled") == 1 and "for interp in" in err


def test_handlers_are_sorted_by_the_events_they_take():
    """MXNet's Estimator._categorize_handlers: one list per event, in the order train_begin,
    epoch_begin, batch_begin, batch_end, epoch_end, train_end; share_parameters(None) shares nothing."""
    from hybrid.gluon.contrib.estimator.event_handler import BatchBegin, BatchEnd, EpochBegin, TrainBegin, TrainEnd

    class Start(TrainBegin):
        pass

    class Many(EpochBegin, BatchBegin, BatchEnd, TrainEnd):
        pass

    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(2, in_units=3))
    assert net.share_parameters(None) is net
    est = Estimator(net, loss=gluon.loss.L2Loss())
    start, many = Start(), Many()
    groups = est._categorize_handlers([start, many])
    assert [len(g) for g in groups] == [1, 1, 1, 1, 0, 1]
    assert groups[0] == [start] and groups[3] == [many]


def test_estimator_checks_its_arguments_as_mxnet():
    """MXNet's Estimator: ValueError for a loss, metric, trainer, device or data of the wrong kind; a
    warning and SGD(0.001) without a trainer; Accuracy by default for SoftmaxCrossEntropyLoss, and the
    validation metrics copy the training ones."""
    train, _ = _problem()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    net = nn.Dense(2)
    net.initialize()
    with pytest.warns(UserWarning, match="No trainer specified"):
        est = Estimator(net, loss)
    assert isinstance(est.train_metrics[0], gluon.metric.Accuracy) and est.trainer.learning_rate == 0.001
    assert isinstance(est.val_metrics[0], gluon.metric.Accuracy) and est.val_metrics[0] is not est.train_metrics[0]
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    bad = [dict(loss="mse"), dict(train_metrics="acc"), dict(trainer="sgd"), dict(device="cpu")]
    for kwargs in bad:
        with pytest.raises(ValueError, match="Estimator: "):
            Estimator(net, **{"loss": loss, "trainer": trainer, **kwargs})
    est = Estimator(net, loss, trainer=trainer, device=[hb.cpu()])
    with pytest.raises(ValueError, match="train_data must be a gluon.data.DataLoader"):
        est.fit([np.ones((4, 3))], epochs=1)


def test_handlers_must_read_updated_metrics_and_initializer_warning():
    """MXNet: a handler reading a metric nothing updates is a ValueError; an initializer given for a
    fully initialized network is skipped with a warning."""
    train, _ = _problem()
    net = nn.Dense(2)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with pytest.warns(UserWarning, match="Network already fully initialized"):
        est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), initializer=hb.init.Xavier(), trainer=trainer)
    est.fit(train, epochs=1, event_handlers=[LoggingHandler(metrics=est.train_metrics, file=io.StringIO())])
    stray = gluon.metric.RMSE("stray")
    with pytest.raises(ValueError, match="LoggingHandler reads metric 'stray', which no MetricHandler"):
        est.fit(train, epochs=1, event_handlers=[LoggingHandler(metrics=[stray], file=io.StringIO())])
