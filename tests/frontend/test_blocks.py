"""Blocks and layers: parameter naming, collect_params, initializers, deferred shapes,
save/load_parameters, Sequential/HybridSequential, and every nn layer eager vs hybridized vs NumPy."""
import math
import os
import shutil

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, init, np, npx, nn

from hb_check import sample


class Tower(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(4, 3, padding=1, in_channels=2)
        self.bn = nn.BatchNorm(in_channels=4)
        self.head = nn.HybridSequential()
        self.head.add(nn.Flatten(), nn.Dense(8, activation="relu"), nn.Dense(3))

    def forward(self, x):
        return self.head(npx.relu(self.bn(self.conv(x))))


def eager_and_hybridized(net, *inputs, train=False):
    """Outputs of `net` eagerly and after hybridize(backend='interp'), with the same parameters."""
    args = [np.array(x) for x in inputs]
    scope = autograd.train_mode if train else autograd.predict_mode
    with scope():
        eager = net(*args)
    net.hybridize(backend="interp")
    with scope():
        compiled = net(*args)
    net.hybridize(active=False)
    return eager.asnumpy(), compiled.asnumpy()


# -- parameters ------------------------------------------------------------------------------------
def test_parameters_are_named_by_path():
    net = Tower()
    names = list(net.collect_params())
    assert names == ["conv.weight", "conv.bias", "bn.gamma", "bn.beta", "bn.running_mean", "bn.running_var",
                     "head.1.weight", "head.1.bias", "head.2.weight", "head.2.bias"]
    net.initialize()
    assert [p.name for p in net.collect_params().values()] == names
    net(np.ones((1, 2, 5, 5)))
    net.hybridize(backend="interp")
    net(np.ones((1, 2, 5, 5)))
    assert [v.name for v in hb.ir.parse(net.ir()).params] == names


def test_collect_params_select_regex():
    net = Tower()
    assert list(net.collect_params(".*weight")) == ["conv.weight", "head.1.weight", "head.2.weight"]
    assert list(net.collect_params("bn\\.running_(mean|var)")) == ["bn.running_mean", "bn.running_var"]
    assert list(net.collect_params("head")) == ["head.1.weight", "head.1.bias", "head.2.weight", "head.2.bias"]
    assert list(net.collect_params("nothing")) == []


def test_shared_child_lists_its_parameters_under_each_path():
    # MXNet 2: one entry per structural path; initializing and training see each parameter once
    dense = nn.Dense(2, in_units=2)
    seq = nn.HybridSequential()
    seq.add(dense, dense)
    params = seq.collect_params()
    assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias"] and params["1.weight"] is dense.weight
    assert list(seq._unique_params()) == ["0.weight", "0.bias"]


@pytest.mark.parametrize("initializer, check", [
    (init.Zero(), lambda w, fan_in, fan_out: (w == 0).all()),
    (init.One(), lambda w, fan_in, fan_out: (w == 1).all()),
    (init.Constant(0.25), lambda w, fan_in, fan_out: (w == 0.25).all()),
    (init.Uniform(0.5), lambda w, fan_in, fan_out: w.min() >= -0.5 and w.max() <= 0.5 and w.max() > 0.45
     and abs(w.std() - 0.5 / math.sqrt(3)) < 0.02),
    (init.Normal(0.2), lambda w, fan_in, fan_out: abs(w.std() - 0.2) < 0.01 and abs(w.mean()) < 0.01),
    (init.Xavier(), lambda w, fan_in, fan_out: abs(w).max() <= math.sqrt(3 / ((fan_in + fan_out) / 2))
     and abs(w).max() > 0.95 * math.sqrt(3 / ((fan_in + fan_out) / 2))),
    (init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2),
     lambda w, fan_in, fan_out: abs(w.std() - math.sqrt(2 / fan_in)) < 0.01),
    ("zeros", lambda w, fan_in, fan_out: (w == 0).all()),
    ("ones", lambda w, fan_in, fan_out: (w == 1).all()),
])
def test_initializers(initializer, check):
    net = nn.Dense(300, in_units=200)
    net.initialize(initializer)
    w = net.weight.data().asnumpy()
    assert w.shape == (300, 200) and w.dtype == onp.float32
    assert check(w, 200, 300)
    assert (net.bias.data().asnumpy() == 0).all()  # the layer's own bias initializer wins


def test_xavier_on_conv_weights_uses_receptive_field():
    net = nn.Conv2D(16, 3, in_channels=8)
    net.initialize(init.Xavier())
    bound = math.sqrt(3 / ((8 * 9 + 16 * 9) / 2))
    w = net.weight.data().asnumpy()
    assert abs(w).max() <= bound and abs(w).max() > 0.9 * bound


def test_initialize_is_seeded_and_force_reinit():
    np.random.seed(5)
    a = nn.Dense(4, in_units=3)
    a.initialize()
    np.random.seed(5)
    b = nn.Dense(4, in_units=3)
    b.initialize()
    onp.testing.assert_array_equal(a.weight.data().asnumpy(), b.weight.data().asnumpy())
    before = a.weight.data().asnumpy()
    a.initialize(init.One())  # already initialized: kept
    onp.testing.assert_array_equal(a.weight.data().asnumpy(), before)
    a.initialize(init.One(), force_reinit=True)
    assert (a.weight.data().asnumpy() == 1).all()


def test_unknown_initializer_name():
    with pytest.raises(ValueError, match="unknown initializer 'bogus'"):
        nn.Dense(2, in_units=2).initialize("bogus")


def test_deferred_shapes_are_set_by_the_first_call():
    net = Tower()
    net.initialize()
    dense = net.head[1]
    assert not dense.weight.is_initialized and dense.weight.shape == (8, 0)
    with pytest.raises(hb.HybridError, match="head.1.weight"):
        dense.weight.data()
    net(np.ones((2, 2, 5, 5)))
    assert dense.weight.shape == (8, 100)
    assert net.head[2].weight.shape == (3, 8)


def test_deferred_shapes_with_hybridize_before_the_first_call():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(3, 3), nn.BatchNorm(), nn.LayerNorm(), nn.Dense(5))
    net.initialize()
    net.hybridize(backend="interp")
    x = sample((2, 4, 6, 6))
    out = net(np.array(x))
    assert out.shape == (2, 5)
    assert {k: p.shape for k, p in net.collect_params().items()} == {
        "0.weight": (3, 4, 3, 3), "0.bias": (3,), "1.gamma": (3,), "1.beta": (3,), "1.running_mean": (3,),
        "1.running_var": (3,), "2.gamma": (4,), "2.beta": (4,), "3.weight": (5, 48), "3.bias": (5,)}
    net.hybridize(active=False)
    onp.testing.assert_allclose(net(np.array(x)).asnumpy(), out.asnumpy(), rtol=1e-6, atol=1e-6)


def test_uninitialized_parameter_error():
    net = nn.Dense(3, in_units=2)
    with pytest.raises(hb.HybridError, match="initialize"):
        net(np.ones((1, 2)))


# -- save / load ----------------------------------------------------------------------------------------
def test_save_load_parameters_round_trip(tmp_path):
    np.random.seed(1)
    net = Tower()
    net.initialize(init.Xavier())
    x = sample((2, 2, 5, 5))
    before = net(np.array(x)).asnumpy()
    path = str(tmp_path / "tower.npz")
    net.save_parameters(path)
    with onp.load(path, allow_pickle=False):  # an npz: no pickled objects inside
        pass
    saved = npx.load(path)   # npx.save's versioned format, a dict by structural name (as MXNet 2)
    assert sorted(saved) == sorted(net.collect_params())
    assert all(v.dtype == onp.float32 for v in saved.values())
    other = Tower()
    other.load_parameters(path)
    onp.testing.assert_array_equal(other(np.array(x)).asnumpy(), before)
    for name, p in other.collect_params().items():
        assert p.name == name


def test_load_parameters_checks_names_and_shapes(tmp_path):
    net = nn.Dense(3, in_units=2)
    net.initialize()
    path = str(tmp_path / "dense.npz")
    net.save_parameters(path)
    with pytest.raises(hb.HybridError, match="lacks parameters"):
        Tower().load_parameters(path)
    pair = nn.HybridSequential()
    pair.add(nn.Dense(3, in_units=2), nn.Dense(3, in_units=3))
    pair.initialize()
    pair_path = str(tmp_path / "pair.npz")
    pair.save_parameters(pair_path)
    single = nn.HybridSequential()
    single.add(nn.Dense(3, in_units=2))
    with pytest.raises(hb.HybridError, match=r"has parameters this model does not: \['1.weight', '1.bias'\]"):
        single.load_parameters(pair_path)
    single.load_parameters(pair_path, ignore_extra=True)
    onp.testing.assert_array_equal(single[0].weight.data().asnumpy(), pair[0].weight.data().asnumpy())
    wrong = nn.Dense(4, in_units=2)
    with pytest.raises(hb.HybridError, match=r"shape \(4, 2\)"):
        wrong.load_parameters(path)
    partial = nn.Dense(3, in_units=2, use_bias=False)
    partial.load_parameters(path, ignore_extra=True)
    onp.testing.assert_array_equal(partial.weight.data().asnumpy(), net.weight.data().asnumpy())


def test_save_parameters_shared_names_and_deduplicate(tmp_path):
    """A parameter shared by two blocks is saved under both names (MXNet's default) or, with
    deduplicate=True, once; either file loads into a model that shares it the same way."""
    def model():
        dense = nn.Dense(2, in_units=3)
        seq = nn.HybridSequential()
        twin = nn.Dense(2, in_units=3).share_parameters(dense.collect_params())
        seq.add(dense, nn.Dense(3, in_units=2), twin)
        return seq
    hb.random.seed(3)
    net = model()
    net.initialize(init.Xavier())
    x = np.array(sample((4, 3)))
    for deduplicate, names in ((False, ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]),
                               (True, ["0.weight", "0.bias", "1.weight", "1.bias"])):
        path = str(tmp_path / f"shared-{deduplicate}.npz")
        net.save_parameters(path, deduplicate=deduplicate)
        saved = npx.load(path)
        assert sorted(saved) == sorted(names)
        onp.testing.assert_array_equal(saved["0.weight"].asnumpy(), net[0].weight.data().asnumpy())
        other = model()
        other.load_parameters(path)
        onp.testing.assert_array_equal(other(x).asnumpy(), net(x).asnumpy())


def test_collect_params_lists_a_shared_parameter_under_each_path():
    """MXNet 2's collect_params maps every structural path to its Parameter, so a parameter shared by
    two blocks appears under both names (the same object); initializing, hybridizing and a Trainer
    still treat it as one parameter: one SGD step moves it once, by the sum of both uses' gradients."""
    hb.random.seed(5)
    first = nn.Dense(2, in_units=3, use_bias=False)
    twin = nn.Dense(2, in_units=3, use_bias=False).share_parameters(first.collect_params())
    net = nn.HybridSequential()
    net.add(first, twin)
    params = net.collect_params()
    assert list(params) == ["0.weight", "1.weight"] and params["0.weight"] is params["1.weight"]
    assert list(net.collect_params(".*1.weight")) == ["1.weight"]
    net.initialize(init.Constant(0.5))
    params.initialize(init.Constant(0.5))   # a second initialize of the same parameter is the usual no-op
    w0 = first.weight.data().asnumpy().copy()
    x = np.array(sample((4, 3)))
    trainer = hb.gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
    assert len(trainer.trainable_params) == 1

    def loss(block):
        return block(x).sum() if block is not net else (first(x) + twin(x)).sum()
    net.hybridize()
    with autograd.record():
        out = loss(net)
    out.backward()
    trainer.step(1)
    # d/dW sum(x W^T) = ones(2, 1) @ colsum(x) for each of the two uses
    expected = w0 - 0.1 * 2 * onp.outer(onp.ones(2), x.asnumpy().sum(0))
    onp.testing.assert_allclose(first.weight.data().asnumpy(), expected, rtol=1e-6)
    assert twin.weight is first.weight


def test_initializers_compare_by_settings():
    """MXNet compares initializers by class and settings (a fresh block's initializer equals the one
    of a block whose parameters were shared)."""
    assert init.Constant(-10.0) == init.Constant(-10.0) and init.Constant(1.0) != init.Constant(2.0)
    assert init.Xavier(magnitude=2) == init.Xavier(magnitude=2) != init.Xavier(magnitude=3)
    assert init.Constant(onp.ones(3)) == init.Constant(onp.ones(3)) != init.Constant(onp.zeros(3))
    assert init.Zero() != init.One() and init.Normal(0.01) != init.Uniform(0.01)
    assert len({init.Constant(1.0), init.Constant(1.0)}) == 1


def test_load_parameters_never_unpickles(tmp_path):
    path = str(tmp_path / "evil.npz")
    onp.savez(path, weight=onp.array([{"payload": 1}], dtype=object), bias=onp.zeros(3, "float32"))
    net = nn.Dense(3, in_units=1)
    with pytest.raises(hb.FormatError) as info:
        net.load_parameters(path)
    assert "evil.npz" in str(info.value)


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_load_parameters_bad_files_name_the_file(tmp_path, damage):
    net = nn.Dense(3, in_units=2)
    net.initialize()
    path = str(tmp_path / "p.npz")
    net.save_parameters(path)
    if damage == "missing":
        os.remove(path)
    elif damage == "truncated":
        data = open(path, "rb").read()
        open(path, "wb").write(data[:len(data) // 2])
    else:
        open(path, "wb").write(b"not an npz file at all")
    with pytest.raises(hb.FormatError) as info:
        nn.Dense(3, in_units=2).load_parameters(path)
    assert path in str(info.value)


# -- containers -------------------------------------------------------------------------------------------
def test_sequential_and_hybrid_sequential():
    np.random.seed(2)
    layers = [nn.Dense(6, activation="tanh", in_units=4), nn.Dense(2, in_units=6)]
    seq = nn.Sequential()
    seq.add(*layers)
    hseq = nn.HybridSequential()
    hseq.add(*layers)
    for net in (seq, hseq):
        net.initialize()
    assert len(seq) == 2 and seq[1] is layers[1] and hseq[0] is layers[0]
    x = sample((3, 4))
    w1, b1 = layers[0].weight.data().asnumpy(), layers[0].bias.data().asnumpy()
    w2, b2 = layers[1].weight.data().asnumpy(), layers[1].bias.data().asnumpy()
    expected = onp.tanh(x @ w1.T + b1) @ w2.T + b2
    for net in (seq, hseq):
        eager, compiled = eager_and_hybridized(net, x)
        onp.testing.assert_allclose(eager, expected, rtol=1e-5, atol=1e-6)
        onp.testing.assert_allclose(compiled, eager, rtol=1e-6, atol=1e-6)
    seq.hybridize(backend="interp")  # a plain Sequential hybridizes its children one by one
    assert layers[0]._compiled is not None
    onp.testing.assert_allclose(seq(np.array(x)).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert "Dense(4 -> 6, tanh)" in repr(seq)


# -- every layer -------------------------------------------------------------------------------------------
def _dense_ref(layer, x, flatten=True):
    w, b = layer.weight.data().asnumpy(), layer.bias.data().asnumpy()
    x = x.reshape(x.shape[0], -1) if flatten else x
    return x @ w.T + b


def _conv_ref(layer, x):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(layer.weight.data().asnumpy()),
                   torch.from_numpy(layer.bias.data().asnumpy()), layer.strides, layer.padding, layer.dilation,
                   layer.groups)
    return out.numpy()


def _pool_ref(kind, x, size, stride, pad):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    return fn(torch.from_numpy(x), size, stride, pad).numpy()


LAYERS = {
    "Dense": (lambda: nn.Dense(5, in_units=12), (3, 12), lambda l, x: _dense_ref(l, x)),
    "Dense-flatten": (lambda: nn.Dense(5), (3, 2, 2, 3), lambda l, x: _dense_ref(l, x)),
    "Dense-no-flatten": (lambda: nn.Dense(5, flatten=False), (3, 4, 6), lambda l, x: _dense_ref(l, x, False)),
    "Dense-relu-nobias": (lambda: nn.Dense(5, activation="relu", use_bias=False, in_units=4), (2, 4),
                          lambda l, x: onp.maximum(x @ l.weight.data().asnumpy().T, 0)),
    "Conv2D": (lambda: nn.Conv2D(6, 3, strides=2, padding=1, in_channels=4), (2, 4, 9, 9), _conv_ref),
    "Conv2D-dilated-groups": (lambda: nn.Conv2D(4, (3, 2), padding=(2, 1), dilation=2, groups=2), (1, 4, 7, 8),
                              _conv_ref),
    "Conv2D-activation": (lambda: nn.Conv2D(3, 1, activation="sigmoid"), (1, 2, 3, 3),
                          lambda l, x: 1 / (1 + onp.exp(-_conv_ref(l, x)))),
    "MaxPool2D": (lambda: nn.MaxPool2D(3, 2, 1), (2, 3, 7, 7), lambda l, x: _pool_ref("max", x, 3, 2, 1)),
    "AvgPool2D": (lambda: nn.AvgPool2D(2), (2, 3, 6, 7), lambda l, x: _pool_ref("avg", x, 2, 2, 0)),
    "AvgPool2D-pad": (lambda: nn.AvgPool2D(3, 1, 1), (1, 2, 5, 5), lambda l, x: _pool_ref("avg", x, 3, 1, 1)),
    "GlobalAvgPool2D": (lambda: nn.GlobalAvgPool2D(), (2, 3, 4, 5), lambda l, x: x.mean(axis=(2, 3), keepdims=True)),
    "GlobalMaxPool2D": (lambda: nn.GlobalMaxPool2D(), (2, 3, 4, 5), lambda l, x: x.max(axis=(2, 3), keepdims=True)),
    "BatchNorm": (lambda: nn.BatchNorm(), (4, 3, 2, 5),
                  lambda l, x: (x - l.running_mean.data().asnumpy().reshape(1, 3, 1, 1))
                  / onp.sqrt(l.running_var.data().asnumpy().reshape(1, 3, 1, 1) + 1e-5)
                  * l.gamma.data().asnumpy().reshape(1, 3, 1, 1) + l.beta.data().asnumpy().reshape(1, 3, 1, 1)),
    "LayerNorm": (lambda: nn.LayerNorm(), (2, 5, 8),
                  lambda l, x: (x - x.mean(-1, keepdims=True)) / onp.sqrt(x.var(-1, keepdims=True) + 1e-5)
                  * l.gamma.data().asnumpy() + l.beta.data().asnumpy()),
    "Dropout": (lambda: nn.Dropout(0.5), (4, 6), lambda l, x: x),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4), lambda l, x: x.reshape(2, -1)),
    "Activation": (lambda: nn.Activation("tanh"), (3, 4), lambda l, x: onp.tanh(x)),
    "Activation-relu": (lambda: nn.Activation("relu"), (3, 4), lambda l, x: onp.maximum(x, 0)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer(name):
    make, shape, ref = LAYERS[name]
    np.random.seed(11)
    layer = make()
    layer.initialize(init.Normal(0.5))
    if isinstance(layer, nn.BatchNorm):  # non-trivial statistics
        layer(np.ones((1,) + shape[1:]))
        for p, v in ((layer.running_mean, sample((3,))), (layer.running_var, onp.abs(sample((3,))) + 0.5)):
            p.set_data(v)
    x = sample(shape)
    eager, compiled = eager_and_hybridized(layer, x)
    onp.testing.assert_allclose(eager, ref(layer, x), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(compiled, eager, rtol=1e-6, atol=1e-6)


def test_embedding():
    layer = nn.Embedding(10, 4)
    layer.initialize()
    idx = onp.array([[1, 9], [0, 1]], "int32")
    eager, compiled = eager_and_hybridized(layer, idx)
    onp.testing.assert_array_equal(eager, layer.weight.data().asnumpy()[idx])
    onp.testing.assert_array_equal(compiled, eager)
    assert list(layer.collect_params()) == ["weight"]


def test_dropout_layer_training_eager_equals_hybridized():
    layer = nn.Dropout(0.4)
    x = onp.ones((30, 30), "float32")
    np.random.seed(9)
    with autograd.train_mode():
        eager = layer(np.array(x)).asnumpy()
    layer.hybridize(backend="interp")
    np.random.seed(9)
    with autograd.train_mode():
        compiled = layer(np.array(x)).asnumpy()
    onp.testing.assert_array_equal(compiled, eager)
    assert (eager == 0).any() and onp.allclose(eager[eager != 0], 1 / 0.6)
    onp.testing.assert_array_equal(layer(np.array(x)).asnumpy(), x)  # not training: identity


@pytest.mark.parametrize("backend", [None, "interp", "llvm", "cuda"])
def test_dropout_axes_share_the_mask_eager_and_hybridized(backend):
    # MXNet's variational dropout: one mask value along the given axes; the gradient is that mask / (1 - p)
    if backend == "cuda" and shutil.which("g++") is None:
        pytest.skip("g++ not found: the CUDA emulator needs it")
    x = sample((4, 5, 6))
    results = []
    for b in (None, backend):
        layer = nn.Dropout(0.5, axes=(0, 2))
        if b:
            layer.hybridize(backend=b, **({"runtime": "emulator"} if b == "cuda" else {}))
        xs = np.array(x)
        xs.attach_grad()
        np.random.seed(3)
        with autograd.record():
            y = layer(xs)
        y.backward()
        results.append((y.asnumpy(), xs.grad.asnumpy()))
    (y, g), (y_b, g_b) = results
    onp.testing.assert_allclose(y_b, y, rtol=1e-6)
    onp.testing.assert_allclose(g_b, g, rtol=1e-6)
    mask = g[:1, :, :1]
    assert (g == mask).all() and set(onp.unique(mask)) == {0.0, 2.0}
    onp.testing.assert_allclose(y, x * g, rtol=1e-6)


def test_batchnorm_training_updates_running_stats_eager_and_hybridized():
    x = sample((8, 3, 4, 4), low=1, high=3)
    nets = []
    for hybridize in (False, True):
        bn = nn.BatchNorm(momentum=0.8)
        bn.initialize()
        if hybridize:
            bn.hybridize(backend="interp")
        with autograd.train_mode():
            out = bn(np.array(x)).asnumpy()
        nets.append((bn, out))
    (eager_bn, eager_out), (hyb_bn, hyb_out) = nets
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    onp.testing.assert_allclose(eager_out, (x - mean.reshape(1, 3, 1, 1)) / onp.sqrt(var.reshape(1, 3, 1, 1) + 1e-5),
                                rtol=1e-4, atol=1e-4)
    onp.testing.assert_allclose(hyb_out, eager_out, rtol=1e-6, atol=1e-6)
    count = x.size // 3
    onp.testing.assert_allclose(eager_bn.running_mean.data().asnumpy(), 0.2 * mean, rtol=1e-5)
    onp.testing.assert_allclose(eager_bn.running_var.data().asnumpy(), 0.8 + 0.2 * var * count / (count - 1),
                                rtol=1e-5)
    for name in ("running_mean", "running_var"):
        onp.testing.assert_allclose(getattr(hyb_bn, name).data().asnumpy(), getattr(eager_bn, name).data().asnumpy(),
                                    rtol=1e-6)


def test_block_repr_and_plain_block():
    class Plain(nn.Block):
        def __init__(self):
            super().__init__()
            self.inner = nn.Dense(2, in_units=3)

        def forward(self, x):
            return self.inner(x) * 2

    net = Plain()
    net.initialize()
    assert list(net.collect_params()) == ["inner.weight", "inner.bias"]
    assert net(np.ones((1, 3))).shape == (1, 2)
    assert "(inner): Dense(3 -> 2)" in repr(net)
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Block()(np.ones(1))


def test_reassigning_an_attribute_unregisters_the_old_child():
    class Net(nn.HybridBlock):
        def __init__(self, project: bool):
            super().__init__()
            self.body = nn.Dense(3, in_units=2)
            self.skip = nn.Dense(3, in_units=2)
            if not project:
                self.skip = None  # as ResNet blocks do when no projection is needed
            self.body = nn.Dense(4, in_units=2)

    assert list(Net(True).collect_params()) == ["skip.weight", "skip.bias", "body.weight", "body.bias"]
    net = Net(False)
    assert list(net.collect_params()) == ["body.weight", "body.bias"]
    assert net.collect_params()["body.weight"].shape == (4, 2)


def test_child_names_must_be_printable_in_the_ir():
    seq = nn.HybridSequential()
    seq.register_child(nn.Dense(2, in_units=2), "encoder_1")
    assert list(seq.collect_params()) == ["encoder_1.weight", "encoder_1.bias"]
    with pytest.raises(ValueError, match="'my-block' must be letters, digits and underscores"):
        seq.register_child(nn.Dense(2), "my-block")


def test_child_and_parameter_attributes_keep_their_type():
    """MXNet: an attribute holding a child block or a parameter can be replaced by one of its kind only;
    assigning anything else raises TypeError (hybrid also lets None remove it)."""
    block = nn.HybridSequential()
    block.head = nn.Dense(2)
    block.head = nn.Dense(3)                       # same kind: replaced and re-registered
    assert block.head.units == 3 and list(block._children) == ["head"]
    with pytest.raises(TypeError, match="head holds a Dense"):
        block.head = (2,)
    block.w = hb.gluon.Parameter("w", shape=(2,))
    with pytest.raises(TypeError, match="w holds a Parameter"):
        block.w = nn.Dense(2)
    block.head = None                              # removal
    assert "head" not in block._children
    block.other = 1
    block.other = "anything"                       # plain attributes are unrestricted


def test_children_entries_are_called_to_get_the_child():
    """MXNet 2 keeps weakref.ref(child) in Block._children and its code calls the entries; hybrid's
    entries are called the same way (and hold the child strongly)."""
    class Chain(nn.Block):
        def __init__(self):
            super().__init__()
            self.register_child(nn.Dense(3, in_units=4))   # kept nowhere else
            self.register_child(nn.Dense(2, in_units=3))

        def forward(self, x):
            for ref in self._children.values():
                x = ref()(x)
            return x

    net = Chain()
    net.initialize()
    x = np.array(onp.arange(8, dtype="float32").reshape(2, 4))
    first, second = [ref() for ref in net._children.values()]
    expected = second(first(x)).asnumpy()
    onp.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-6)
    block = nn.Block()
    block.c = nn.Block()
    replacement = nn.Block()
    block.c = replacement
    assert block.c is replacement and list(block._children.values())[0]() is replacement


def test_save_and_load_a_model_built_again(tmp_path):
    """MXNet 2's Block.save(prefix) / load(prefix): parameters plus structure; a model built again by the
    same code loads them without a forward pass first and comes back hybridized where it was."""
    class Chain(nn.Block):
        def add(self, block):
            self.register_child(block)

        def forward(self, x):
            for ref in self._children.values():
                x = ref()(x)
            return x

    def build():
        inner = Chain()
        inner.add(nn.Dense(5))
        net = Chain()
        net.add(inner)
        net.add(nn.Dense(3))
        return net

    net = build()
    net.initialize()
    net.hybridize(backend="interp")
    x = np.array(sample((2, 4)))
    expected = net(x).asnumpy()
    prefix = str(tmp_path / "model")
    assert net.save(prefix) == (prefix + "-model.json", prefix + "-model.params")
    again = build()
    again.load(prefix)
    assert again._child_blocks()[1]._compiled is not None
    onp.testing.assert_allclose(again(x).asnumpy(), expected, rtol=1e-6)
    other = Chain()
    other.add(nn.Dense(3))
    with pytest.raises(hb.FormatError, match=r"model-model.json: block \(root\) had children \['0', '1'\] when "
                                             r"saved, this model has \['0'\]"):
        other.load(prefix)
    with pytest.raises(hb.FormatError, match="does not exist"):
        build().load(str(tmp_path / "missing"))


def test_blocks_in_a_list_attribute_are_reported_unregistered():
    class Listed(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Dense(4), nn.Dense(2)]
            self.settings = {"a": "4", "b": 123}

    class Registered(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.layers = nn.HybridSequential()
            self.layers.add(nn.Dense(4), nn.Dense(2))

    with pytest.warns(UserWarning, match="Listed.layers is a list holding Blocks"):
        assert Listed().collect_params() == {}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(Registered().collect_params()) == 4


def test_sequential_of_hybrid_blocks_suggests_hybrid_sequential():
    seq = nn.Sequential()
    seq.add(nn.Dense(2))
    with pytest.warns(UserWarning, match="use HybridSequential"):
        seq.hybridize()


def test_grad_req_switch_frees_and_reallocates_gradients():
    """MXNet: block.setattr('grad_req', 'null') drops the gradient buffers; back to 'write' gives zeroed
    ones; gradients are then computed again."""
    dense = nn.Dense(2, in_units=3)
    dense.initialize()
    x = np.array(sample((4, 3)))
    dense.setattr("grad_req", "null")
    assert dense.weight._grad is None and dense.weight.data().grad is None
    dense.setattr("grad_req", "write")
    assert [g.asnumpy().tolist() for g in dense.weight._grad] == [onp.zeros((2, 3)).tolist()]
    with autograd.record():
        y = dense(x).sum()
    y.backward()
    onp.testing.assert_allclose(dense.weight.grad().asnumpy(), onp.tile(x.asnumpy().sum(0), (2, 1)), rtol=1e-6)
    with pytest.raises(ValueError, match="grad_req must be"):
        dense.weight.grad_req = "sometimes"


def test_embedding_sparse_grad_is_refused_with_the_reason():
    assert nn.Embedding(5, 3, sparse_grad=False).weight.grad_stype == "default"
    with pytest.raises(hb.HybridError, match="row_sparse.*densely"):
        nn.Embedding(5, 3, sparse_grad=True)


@pytest.mark.parametrize("hybridize", [False, True])
def test_input_that_does_not_fit_a_given_in_channels_names_the_parameter(hybridize):
    """LayerNorm(in_channels=10) on 11 features: an error naming the parameter and both shapes (an
    AssertionError as well, which is what MXNet raises), eager and hybridized, before and after the
    parameter exists."""
    layer = nn.LayerNorm(in_channels=10)
    layer.initialize()
    if hybridize:
        layer.hybridize()
    with pytest.raises(AssertionError, match=r"gamma has shape \(10,\), but this input needs \(11,\)"):
        layer(np.ones((2, 11)))
    assert layer(np.ones((2, 10))).shape == (2, 10)
    with pytest.raises(hb.ShapeError, match="in_units / in_channels"):
        layer(np.ones((2, 11)))


def test_share_parameters_from_another_blocks_own_params():
    """share_parameters(other.params) takes what `other` has and leaves the rest: sharing an
    Embedding's weight with a Dense output layer keeps the Dense's own bias (and adds nothing to the
    Embedding)."""
    embedding = nn.Embedding(40, 30)
    dense = nn.Dense(40, flatten=False).share_parameters(embedding.params)
    assert dense.weight is embedding.weight and dense.bias.shape == (40,)
    assert list(embedding.collect_params()) == ["weight"]
