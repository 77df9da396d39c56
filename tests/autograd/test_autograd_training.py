"""Training eagerly, hybridized (compiled forward + compiled backward on the tape) and with
`hb.compile_step` gives the same losses and parameters; dropout and BatchNorm behave the same."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, gluon, nn, np
from hybrid.errors import HybridError, ShapeError
from hybrid.model_zoo import MLP, LeNet5

from gradcheck import backends


def _copy_params(src, dst) -> None:
    for (_, a), (_, b) in zip(src.collect_params().items(), dst.collect_params().items()):
        b.set_data(a._data_eager().asnumpy())


def _pair(ctor, example):
    """Two networks with the same initial weights (deferred shapes fixed by one eager call)."""
    nets = []
    for _ in range(2):
        net = ctor()
        net.initialize()
        with autograd.pause():
            net(example)
        nets.append(net)
    _copy_params(nets[0], nets[1])
    return nets


def _batches(shape, classes, steps, seed=0, distinct=4):
    """`steps` batches cycling over `distinct` ones, labelled by a fixed random projection (learnable)."""
    rng = onp.random.default_rng(seed)
    projection = rng.standard_normal((int(onp.prod(shape[1:])), classes))
    data = [rng.standard_normal(shape).astype(onp.float32) for _ in range(distinct)]
    labelled = [(np.array(x), np.array((x.reshape(len(x), -1) @ projection).argmax(1).astype(onp.int32)))
                for x in data]
    return [labelled[i % distinct] for i in range(steps)]


def _train(net, batches, optimizer="sgd", params=None):
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, params or {"learning_rate": 0.1})
    losses = []
    for x, y in batches:
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward(np.ones_like(loss))
        trainer.step(x.shape[0])
        losses.append(float(loss.asnumpy().mean()))
    return losses


MODELS = {
    "mlp": (lambda: MLP(hidden=(64, 32), in_units=48), (16, 48)),
    "lenet": (LeNet5, (8, 1, 28, 28)),
}


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("model", sorted(MODELS))
def test_twenty_sgd_steps_eager_vs_hybridized(model, backend):
    ctor, shape = MODELS[model]
    batches = _batches(shape, 10, 20)
    eager, hybrid_net = _pair(ctor, batches[0][0])
    hybrid_net.hybridize(backend=backend)
    eager_losses = _train(eager, batches, "sgd", {"learning_rate": 0.05, "momentum": 0.9})
    hybrid_losses = _train(hybrid_net, batches, "sgd", {"learning_rate": 0.05, "momentum": 0.9})
    assert hybrid_net._compiled.training_cache, "the compiled forward/backward pair was not used"
    assert eager_losses[-1] < eager_losses[0]
    onp.testing.assert_allclose(hybrid_losses, eager_losses, rtol=1e-4, atol=1e-4)
    for (key, a), (_, b) in zip(eager.collect_params().items(), hybrid_net.collect_params().items()):
        onp.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(), rtol=1e-4, atol=1e-4, err_msg=key)


class _EagerOuter(nn.Block):
    """A plain (never compiled) block around a hybridized one, with eager ops on both sides."""

    def __init__(self):
        super().__init__()
        self.inner = nn.HybridSequential()
        self.inner.add(nn.Dense(8, activation="tanh", in_units=6), nn.Dense(5, in_units=8))
        self.head = nn.Dense(3, in_units=5)

    def forward(self, x):
        return self.head(np.tanh(self.inner(x * 2.0)))


class _HybridOuter(nn.HybridBlock):
    """A hybridized block whose child is a plain Block (traced inline)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential()
        self.body.add(nn.Dense(8, activation="relu", in_units=6), nn.Dense(3, in_units=8))

    def forward(self, x):
        return np.sin(self.body(x))


@pytest.mark.parametrize("ctor,hybridize", [(_EagerOuter, lambda n: n.inner.hybridize()),
                                            (_HybridOuter, lambda n: n.hybridize())])
def test_mixed_eager_and_hybridized_blocks(ctor, hybridize):
    x0 = onp.random.default_rng(2).standard_normal((4, 6)).astype(onp.float32)
    eager, mixed = _pair(ctor, np.array(x0))
    hybridize(mixed)
    grads = []
    for net in (eager, mixed):
        x = np.array(x0)
        x.attach_grad()
        with autograd.record():
            y = (net(x) ** 2).sum()
        y.backward()
        grads.append([x.grad.asnumpy()] + [p.grad().asnumpy() for p in net.collect_params().values()])
    for a, b in zip(*grads):
        onp.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


class _DropNet(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(16, activation="relu", in_units=8)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Dense(4, in_units=16)

    def forward(self, x):
        return self.fc2(self.drop(self.fc1(x)))


def test_dropout_masks_and_gradients_equal_eager_and_compiled():
    x = np.array(onp.random.default_rng(3).standard_normal((6, 8)).astype(onp.float32))
    eager, compiled = _pair(_DropNet, x)
    compiled.hybridize()
    results = []
    for net in (eager, compiled):
        hb.np.random.seed(42)
        with autograd.record():
            out = net(x)
            y = (out * out).sum()
        y.backward()
        results.append((out.asnumpy(), net.fc1.weight.grad().asnumpy()))
    (out_e, grad_e), (out_c, grad_c) = results
    assert not onp.allclose(out_e, eager(x).asnumpy()), "dropout changed nothing in training mode"
    onp.testing.assert_allclose(out_c, out_e, rtol=1e-6)
    onp.testing.assert_allclose(grad_c, grad_e, rtol=1e-5, atol=1e-6)


def test_batchnorm_running_stats_update_in_compiled_training():
    x = np.array(onp.random.default_rng(4).standard_normal((4, 3, 5, 5)).astype(onp.float32) * 2 + 1)
    nets = _pair(lambda: nn.BatchNorm(in_channels=3), x)
    nets[1].hybridize()
    for net in nets:
        for _ in range(2):
            with autograd.record():
                y = (net(x) * x).sum()
            y.backward()
    start = onp.zeros(3)
    assert not onp.allclose(nets[0].running_mean.data().asnumpy(), start)
    for name in ("running_mean", "running_var"):
        onp.testing.assert_allclose(getattr(nets[1], name).data().asnumpy(), getattr(nets[0], name).data().asnumpy(),
                                    rtol=1e-5, err_msg=name)
    onp.testing.assert_allclose(nets[1].gamma.grad().asnumpy(), nets[0].gamma.grad().asnumpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer,params", [("sgd", {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-3}),
                                              ("adam", {"learning_rate": 0.01, "epsilon": 1e-5})])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_compile_step_matches_eager_step(model, optimizer, params):
    ctor, shape = MODELS[model]
    batches = _batches(shape, 10, 3, seed=9)
    eager, net = _pair(ctor, batches[0][0])
    eager_losses = _train(eager, batches, optimizer, params)
    trainer = gluon.Trainer(net.collect_params(), optimizer, params)
    step = hb.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend="interp")
    arrays = {k: p._data_eager() for k, p in net.collect_params().items()}
    losses = [float(step(x, y).asnumpy().mean()) for x, y in batches]
    onp.testing.assert_allclose(losses, eager_losses, rtol=1e-5, atol=1e-6)
    for (key, a), (_, b) in zip(eager.collect_params().items(), net.collect_params().items()):
        assert b._data_eager() is arrays[key], "compile_step must update the parameter arrays in place"
        # Adam's first steps move by about lr * g / (|g| + epsilon): for a gradient entry near zero,
        # float32 rounding in g changes that a lot, hence epsilon=1e-5 above rather than 1e-8.
        onp.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(), rtol=1e-4, atol=1e-5, err_msg=key)
    assert "matmul" in step.ir() and trainer.optimizer.num_update == len(batches)


def test_compile_step_with_batchnorm_and_dropout():
    def ctor():
        net = nn.HybridSequential()
        net.add(nn.Conv2D(4, 3, in_channels=2), nn.BatchNorm(in_channels=4), nn.Activation("relu"),
                nn.Dropout(0.3), nn.Flatten(), nn.Dense(3))
        return net

    batches = _batches((4, 2, 6, 6), 3, 2, seed=11)
    eager, net = _pair(ctor, batches[0][0])
    hb.np.random.seed(5)
    eager_losses = _train(eager, batches, "sgd", {"learning_rate": 0.1})
    hb.np.random.seed(5)
    step = hb.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(), gluon.Trainer(net.collect_params(), "sgd",
                                                                                    {"learning_rate": 0.1}))
    losses = [float(step(x, y).asnumpy().mean()) for x, y in batches]
    onp.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    for (key, a), (_, b) in zip(eager.collect_params().items(), net.collect_params().items()):
        onp.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_compile_step_label_shape_mismatch_is_a_clear_error():
    net = MLP(hidden=(8,), in_units=4)
    net.initialize()
    step = hb.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(),
                           gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}))
    x = np.ones((5, 4))
    with pytest.raises(ShapeError, match=r"label shape \(3,\) does not match prediction shape \(5, 10\)"):
        step(x, np.zeros((3,), dtype="int32"))


def test_compile_step_rejects_a_trainer_of_other_parameters():
    net, other = MLP(hidden=(8,), in_units=4), MLP(hidden=(8,), in_units=4)
    net.initialize()
    other.initialize()
    step = hb.compile_step(net, gluon.loss.L2Loss(), gluon.Trainer(other.collect_params(), "sgd"))
    with pytest.raises(HybridError, match="not a parameter of the network"):
        step(np.ones((2, 4)), np.ones((2, 10)))


def test_create_graph_through_hybridized_block_is_a_clear_error():
    net = nn.Dense(3, in_units=4)
    net.initialize()
    net.hybridize()
    x = np.ones((2, 4))
    x.attach_grad()
    with autograd.record():
        y = (net(x) ** 2).sum()
        with pytest.raises(HybridError, match="higher-order gradients.*hybridize\\(False\\)"):
            autograd.grad(y, x, create_graph=True)


def test_compile_step_follows_lr_schedule_and_clipping_without_recompiling():
    batches = _batches((8, 48), 10, 5, seed=13)
    eager, net = _pair(MODELS["mlp"][0], batches[0][0])

    def trainer(params):
        schedule = gluon.lr_scheduler.CosineScheduler(max_update=5, base_lr=0.2, warmup_steps=2)
        return gluon.Trainer(params, "sgd", {"lr_scheduler": schedule, "momentum": 0.5}, clip_global_norm=0.3)

    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    eager_trainer = trainer(eager.collect_params())
    norms = []
    for x, y in batches:
        with autograd.record():
            loss = loss_fn(eager(x), y)
        loss.backward(np.ones_like(loss))
        norms.append(onp.sqrt(sum((p.grad().asnumpy() ** 2).sum() for p in eager.collect_params().values())) / 8)
        eager_trainer.step(x.shape[0])
    assert min(norms) < 0.3 < max(norms), f"the test should exercise clipping (gradient norms {norms})"
    step = hb.compile_step(net, loss_fn, trainer(net.collect_params()), backend="interp")
    for x, y in batches:
        step(x, y)
    assert len(step.cache) == 1
    for (key, a), (_, b) in zip(eager.collect_params().items(), net.collect_params().items()):
        onp.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(), rtol=1e-5, atol=1e-6, err_msg=key)
