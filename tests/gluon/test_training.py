"""Short end-to-end training runs: the eager tape, a loss, the Trainer and the DataLoader
together (and the hybridized forward when the model is hybridized)."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, gluon, nn


def blobs(n=240, seed=0):
    """Three Gaussian clusters in 4-d: a problem a small MLP solves in a few epochs."""
    rng = onp.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(3, 4))
    labels = rng.integers(0, 3, size=n)
    return (centers[labels] + rng.normal(size=(n, 4))).astype(onp.float32), labels.astype(onp.int32)


def train(optimizer, params, epochs=4, hybridize=False, **trainer_kwargs):
    hb.np.random.seed(0)
    x, y = blobs()
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(3))
    net.initialize(hb.init.Xavier())
    if hybridize:
        net.hybridize(backend="interp")
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, params, **trainer_kwargs)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(x, y), batch_size=32, shuffle=True, seed=0)
    acc, losses = gluon.metric.Accuracy(), []
    for _ in range(epochs):
        total = gluon.metric.Loss()
        for xb, yb in loader:
            with autograd.record():
                out = net(xb)
                loss = loss_fn(out, yb)
                objective = loss.sum()
            objective.backward()
            trainer.step(xb.shape[0])
            total.update(None, loss)
        losses.append(total.get()[1])
    acc.update(hb.np.array(y), net(hb.np.array(x)))
    return losses, acc.get()[1]


@pytest.mark.parametrize("optimizer,params", [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("adam", {"learning_rate": 0.02}),
    ("rmsprop", {"learning_rate": 0.01}),
])
def test_loss_decreases_and_model_learns(optimizer, params):
    losses, accuracy = train(optimizer, params)
    assert losses[-1] < 0.5 * losses[0], losses
    assert accuracy > 0.9


def test_scheduled_clipped_training_learns():
    sched = gluon.lr_scheduler.Warmup(gluon.lr_scheduler.CosineScheduler(max_update=30, final_lr=0.01), 5)
    losses, accuracy = train("nag", {"learning_rate": 0.2, "lr_scheduler": sched}, clip_global_norm=1.0)
    assert losses[-1] < 0.5 * losses[0], losses
    assert accuracy > 0.9


def test_hybridized_training_matches_eager():
    eager_losses, _ = train("sgd", {"learning_rate": 0.1, "momentum": 0.9}, epochs=2)
    hybrid_losses, _ = train("sgd", {"learning_rate": 0.1, "momentum": 0.9}, epochs=2, hybridize=True)
    onp.testing.assert_allclose(hybrid_losses, eager_losses, rtol=1e-4)


@pytest.mark.parametrize("optimizer,params,clip", [
    ("nag", {"learning_rate": 0.1, "wd": 1e-3}, None),
    ("adam", {"learning_rate": 0.01}, 0.5),
    ("adamw", {"learning_rate": 0.01,
               "lr_scheduler": gluon.lr_scheduler.Warmup(gluon.lr_scheduler.FactorScheduler(2, 0.5), 2)}, None),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}, None),
])
def test_compiled_step_runs_the_trainers_update(optimizer, params, clip):
    """hb.compile_step traces Trainer.update_fn (optimizer, clipping, lr and t as inputs): three
    compiled steps give the eager Trainer's weights and losses."""
    x, y = blobs(n=16)

    def setup():
        hb.np.random.seed(1)
        net = nn.HybridSequential()
        net.add(nn.Dense(8, activation="tanh"), nn.Dense(3))
        net.initialize(hb.init.Xavier())
        net(hb.np.array(x[:1]))
        return net, gluon.Trainer(net.collect_params(), optimizer, dict(params), clip_global_norm=clip)

    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    net_e, trainer_e = setup()
    eager_losses = []
    for _ in range(3):
        with autograd.record():
            loss = loss_fn(net_e(hb.np.array(x)), hb.np.array(y))
            total = loss.sum()
        total.backward()
        trainer_e.step(len(x))
        eager_losses.append(loss.asnumpy())
    net_c, trainer_c = setup()
    step = hb.compile_step(net_c, loss_fn, trainer_c, backend="interp")
    weight = net_c.collect_params()["0.weight"].data()
    compiled_losses = [step(x, y).asnumpy() for _ in range(3)]
    assert net_c.collect_params()["0.weight"].data() is weight          # updated in place
    onp.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-5, atol=1e-6)
    for (name, pe), pc in zip(net_e.collect_params().items(), net_c.collect_params().values()):
        onp.testing.assert_allclose(pc.data().asnumpy(), pe.data().asnumpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert trainer_c.optimizer.num_update == 3
