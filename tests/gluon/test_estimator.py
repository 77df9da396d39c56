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
    assert "[Epoch 5]" in text and "samples/s" in text and "Training finished" in text   # epochs count from 0
    # MXNet's names: 0-based epoch, batches trained (4 per epoch); the newest two kept
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["mlp-epoch4batch20.params", "mlp-epoch4batch20.states",
                                                    "mlp-epoch5batch24.params", "mlp-epoch5batch24.states"]
    png = (tmp_path / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    names = [n for n, _ in est.evaluate(val)]
    assert names == ["validation accuracy", "validation loss"]


def test_batches_limit_and_early_stopping():
    train, val = _problem()
    net = nn.Dense(2)
    est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), train_metrics=gluon.metric.Accuracy())
    est.fit(train, batches=3, event_handlers=[LoggingHandler(file=io.StringIO(), progress=False)])
    assert est.epoch == 1
    stopper = EarlyStoppingHandler(est.train_loss_metric, patience=0, min_delta=10.0)
    est.fit(train, epochs=20, event_handlers=[stopper, LoggingHandler(file=io.StringIO(), progress=False)])
    assert stopper.stopped_epoch == 1  # 0-based: no improvement of 10 in the second epoch
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


def _ones_problem(n: int = 32):
    ds = gluon.data.ArrayDataset(onp.ones((n, 5), onp.float32), onp.zeros(n, onp.int32))
    return gluon.data.DataLoader(ds, batch_size=8)


def test_batch_checkpoints_graph_and_resume(tmp_path):
    """Checkpoints every 2 batches keep the newest 2; a hybridized net's graph is exported once; a
    resumed run loads the newest epoch checkpoint and trains only the epochs left."""
    data = _ones_problem()
    net = nn.HybridSequential()
    net.add(nn.Dense(3))
    net.initialize()
    net.hybridize(backend="interp")
    frozen = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.0})   # weights stay as loaded
    est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer=frozen)
    ckpt = CheckpointHandler(str(tmp_path), "b", epoch_period=None, batch_period=2, max_checkpoints=2)
    est.fit(data, event_handlers=[ckpt], batches=6)
    assert (ckpt.current_epoch, ckpt.current_batch) == (2, 6)        # batches 4-5 ran in a second epoch
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if "epoch" in n] == ["b-epoch0batch3.params", "b-epoch0batch3.states",
                                                   "b-epoch1batch5.params", "b-epoch1batch5.states"]
    assert "b-symbol.json" in names

    ckpt = CheckpointHandler(str(tmp_path), "e", max_checkpoints=1)
    est.fit(data, event_handlers=[ckpt], epochs=2)
    weights = net[0].weight.data().asnumpy().copy()
    net[0].weight.set_data(hb.np.zeros((3, 5)))
    resumed = CheckpointHandler(str(tmp_path), "e", max_checkpoints=1, resume_from_checkpoint=True)
    est.fit(data, event_handlers=[resumed], epochs=3)
    assert est.max_epoch == 1 and resumed.current_epoch == 1
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("e-epoch")) == ["e-epoch2batch12.params",
                                                                                  "e-epoch2batch12.states"]
    onp.testing.assert_array_equal(net[0].weight.data().asnumpy(), weights)   # the checkpoint was loaded


def test_logging_interval_lines_and_validation_handlers(capsys):
    data = _ones_problem(20)                                           # 3 batches: 8, 8, 4
    net = nn.Dense(2)
    est = Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), train_metrics=gluon.metric.Accuracy())
    assert est.train_metrics[0].name == "training accuracy" and est.val_metrics[0].name == "validation accuracy"
    seen = []

    class Probe(gluon.contrib.estimator.EpochEnd):
        def epoch_end(self, estimator, *args, **kwargs):
            seen.append(estimator.val_metrics[0].get()[1])

    log = LoggingHandler(log_interval=2, metrics=est.train_metrics, progress=False)
    validate = gluon.contrib.estimator.ValidationHandler(data, est.evaluate, event_handlers=[Probe()])
    est.fit(data, val_data=data, epochs=2, event_handlers=[log, validate])
    lines = [line for line in capsys.readouterr().out.splitlines() if "][Batch " in line]
    assert [line.split("]")[1] for line in lines] == ["[Batch 0", "[Batch 2", "[Batch 0", "[Batch 2"]
    assert "[Samples 20]" in lines[1] and "training accuracy: " in lines[1]
    assert len(seen) == 2                                               # evaluation's epoch_end, once per epoch
    assert (log.current_epoch, log.batch_index) == (2, 0)


def test_default_handler_order_and_early_stopping_modes():
    est = Estimator(nn.Dense(2), gluon.loss.SoftmaxCrossEntropyLoss(), train_metrics=gluon.metric.Accuracy())
    stopper = EarlyStoppingHandler(est.train_metrics[0])               # 'auto' on an accuracy: higher is better
    assert stopper.mode == "max"
    assert EarlyStoppingHandler(est.train_loss_metric).mode == "min"
    kinds = [type(h).__name__ for h in est._prepare_default_handlers(None, [stopper])]
    assert kinds[:2] == ["GradientUpdateHandler", "MetricHandler"] and kinds[-1] == "LoggingHandler"
    assert sorted(kinds[2:4]) == ["EarlyStoppingHandler", "StoppingHandler"]
    est.fit(_ones_problem(), event_handlers=[stopper], epochs=5)       # accuracy stays 1.0: stops after patience 0
    assert (stopper.stopped_epoch, stopper.current_epoch) == (1, 2)
