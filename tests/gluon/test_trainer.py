"""Trainer semantics: rescaling by 1/batch_size, in-place updates, zero_grad, global-norm
clipping, learning-rate setters, state checkpoints, and its error messages."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import gluon, nn
from hybrid.gluon import utils


def make_param(value, name="w", grad_req="write"):
    p = hb.Parameter(name, onp.shape(value), grad_req=grad_req)
    p.set_data(onp.asarray(value, onp.float32))
    return p


def test_step_rescales_by_batch_size_and_updates_in_place():
    p = make_param([1.0, 2.0])
    array = p.data()
    trainer = gluon.Trainer({"w": p}, "sgd", {"learning_rate": 0.5})
    p.grad()._data[...] = [4.0, -8.0]
    trainer.step(4)
    assert p.data() is array                            # the same array object, updated in place
    onp.testing.assert_allclose(array.asnumpy(), [1.0 - 0.5 * 1.0, 2.0 + 0.5 * 2.0])


def test_set_data_copies_so_updates_never_touch_the_callers_array():
    source = onp.ones(3, onp.float32)
    p = make_param(source)
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0})
    p.grad()._data[...] = 1.0
    trainer.step(1)
    onp.testing.assert_array_equal(source, onp.ones(3))
    onp.testing.assert_array_equal(p.data().asnumpy(), onp.zeros(3))


def test_learning_rate_property_and_setter():
    trainer = gluon.Trainer([make_param([0.0])], "adam", {"learning_rate": 0.02})
    assert trainer.learning_rate == pytest.approx(0.02)
    trainer.set_learning_rate(0.5)
    assert trainer.learning_rate == 0.5 and trainer.optimizer.lr == 0.5


def test_zero_grad_and_grad_req_add():
    p = make_param([0.0, 0.0], grad_req="add")
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0})
    p.grad()._data[...] = 3.0
    trainer.zero_grad()
    onp.testing.assert_array_equal(p.grad().asnumpy(), [0.0, 0.0])


def test_null_parameters_are_not_trained():
    frozen, live = make_param([1.0], "frozen", grad_req="null"), make_param([1.0], "live")
    trainer = gluon.Trainer([frozen, live], "sgd", {"learning_rate": 1.0})
    assert trainer.trainable_params == [live]
    live.grad()._data[...] = 1.0
    trainer.step(1)
    assert frozen.data().asnumpy()[0] == 1.0 and live.data().asnumpy()[0] == 0.0


def test_clip_global_norm_in_trainer_matches_numpy():
    a, b = make_param([3.0, 0.0], "a"), make_param([[4.0]], "b")
    trainer = gluon.Trainer([a, b], "sgd", {"learning_rate": 1.0}, clip_global_norm=1.0)
    a.grad()._data[...] = [6.0, 0.0]
    b.grad()._data[...] = [[8.0]]
    trainer.step(2)  # rescaled grads (3, 0) and (4): norm 5, scaled to norm 1
    onp.testing.assert_allclose(a.data().asnumpy(), [3.0 - 0.6, 0.0], rtol=1e-6)
    onp.testing.assert_allclose(b.data().asnumpy(), [[4.0 - 0.8]], rtol=1e-6)


def test_clip_global_norm_utility():
    rng = onp.random.default_rng(0)
    values = [rng.normal(size=(3, 4)).astype(onp.float32), rng.normal(size=(5,)).astype(onp.float32)]
    arrays = [hb.np.array(v.copy()) for v in values]
    norm = onp.sqrt(sum((v.astype(onp.float64) ** 2).sum() for v in values))
    returned = utils.clip_global_norm(arrays, 0.5)
    assert returned == pytest.approx(norm, rel=1e-5)
    for got, v in zip(arrays, values):
        onp.testing.assert_allclose(got.asnumpy(), v * (0.5 / norm), rtol=1e-5)
    small = [hb.np.array(v.copy()) for v in values]
    utils.clip_global_norm(small, 100.0)  # under the limit: unchanged
    for got, v in zip(small, values):
        onp.testing.assert_allclose(got.asnumpy(), v, rtol=1e-6)


def test_save_and_load_states(tmp_path):
    def run(trainer, p, steps):
        for i in range(steps):
            p.grad()._data[...] = [1.0 + i, -2.0]
            trainer.step(1)

    p1 = make_param([0.5, 0.5])
    t1 = gluon.Trainer([p1], "adam", {"learning_rate": 0.1})
    run(t1, p1, 3)
    path = str(tmp_path / "trainer.states")
    t1.save_states(path)
    p2 = make_param(p1.data().asnumpy())
    t2 = gluon.Trainer([p2], "adam", {"learning_rate": 0.1})
    t2.load_states(path)
    assert t2.optimizer.num_update == 3
    for p, t in ((p1, t1), (p2, t2)):
        p.grad()._data[...] = [0.3, 0.3]
        t.step(1)
    onp.testing.assert_array_equal(p1.data().asnumpy(), p2.data().asnumpy())


def test_load_states_rejects_other_files(tmp_path):
    trainer = gluon.Trainer([make_param([0.0])], "sgd", {"momentum": 0.9})
    bad = tmp_path / "params.npz"
    onp.savez(bad, w=onp.zeros(1))
    with pytest.raises(hb.FormatError, match="not a trainer-state file of format version 1"):
        trainer.load_states(str(bad))
    (tmp_path / "junk").write_bytes(b"not a zip")
    with pytest.raises(hb.FormatError, match="junk"):
        trainer.load_states(str(tmp_path / "junk"))


def test_trainer_errors():
    with pytest.raises(hb.HybridError, match="collection of parameters"):
        gluon.Trainer(make_param([1.0]), "sgd")
    with pytest.raises(hb.HybridError, match="expected Parameters.*got ndarray"):
        gluon.Trainer([onp.zeros(3)], "sgd")
    frozen = make_param([1.0], grad_req="null")
    with pytest.warns(UserWarning, match="none of the given parameters is trainable"):
        idle = gluon.Trainer([frozen], "sgd")     # MXNet accepts it (a block of Constants); step changes nothing
    idle.step(1)
    assert frozen.data().asnumpy().tolist() == [1.0]
    with pytest.raises(hb.HybridError, match="unknown optimizer 'sdg'"):
        gluon.Trainer([make_param([1.0])], "sdg")
    with pytest.raises(hb.HybridError, match="clip_global_norm must be positive"):
        gluon.Trainer([make_param([1.0])], "sgd", clip_global_norm=0)
    trainer = gluon.Trainer([make_param([1.0])], "sgd")
    for bad in (0, -2, 2.5):
        with pytest.raises(hb.HybridError, match="batch_size must be a positive int"):
            trainer.step(bad)


def test_uninitialized_parameter_error_names_it():
    net = nn.Dense(3)           # input size unknown until the first forward
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    with pytest.raises(hb.HybridError, match="parameter 'weight' is not initialized.*run one forward pass"):
        trainer.step(1)
    net(hb.np.ones((2, 4)))     # deferred initialization happens here; the trainer then works
    trainer.step(2)
    assert trainer.optimizer.num_update == 1


def test_trainer_params_in_collect_params_order():
    # MXNet's Trainer._params: the trainable Parameters in the order given (every worker must agree)
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    net.initialize()
    params = net.collect_params()
    params["0.bias"].grad_req = "null"
    trainer = gluon.Trainer(params, "sgd")
    assert trainer._params == [params["0.weight"], params["1.weight"], params["1.bias"]]
    assert trainer._params == trainer.trainable_params
