"""Gluon's Block API: 1.x-style params access, names, sharing, apply/cast/load_dict, hooks,
op hooks, summary, optimize_for and hybrid_forward(F, ...), eager and hybridized."""
import numpy as onp
import pytest

import hybrid as mx
from hybrid import autograd, gluon, nn, np, npx
from hybrid.errors import HybridError


class OldStyle(gluon.HybridBlock):
    """A 1.x block: parameters through self.params.get, computation in hybrid_forward(F, x, ...)."""

    def __init__(self):
        super().__init__()
        self.weight = self.params.get("weight", shape=(3, 4))
        self.scale = self.params.get_constant("scale", onp.array([2.0], onp.float32))
        self.dense = nn.Dense(2, in_units=3)

    def hybrid_forward(self, F, x, weight, scale):
        h = F.npx.relu(F.np.dot(x, weight.T)) * scale
        return self.dense(F.tanh(h))


@pytest.mark.parametrize("backend", [None, "interp", "llvm"])
def test_hybrid_forward_style(backend):
    net = OldStyle()
    net.initialize()
    x = onp.random.default_rng(0).standard_normal((5, 4)).astype(onp.float32)
    w = net.weight.data().asnumpy()
    dw, db = net.dense.weight.data().asnumpy(), net.dense.bias.data().asnumpy()
    if backend:
        net.hybridize(backend=backend)
    expected = onp.tanh(onp.maximum(x @ w.T, 0) * 2) @ dw.T + db
    onp.testing.assert_allclose(net(np.array(x)).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert set(net.collect_params()) == {"weight", "scale", "dense.weight", "dense.bias"}
    assert net.params.get("weight") is net.weight and net.scale.grad_req == "null"
    with autograd.record():
        loss = net(np.array(x)).sum()
    loss.backward()
    assert net.weight.grad().shape == (3, 4)


def test_missing_forward_says_what_to_define():
    class Empty(nn.HybridBlock):
        pass
    with pytest.raises(NotImplementedError, match="hybrid_forward"):
        Empty()(np.ones(2))
    with pytest.raises(AttributeError, match="fully_connected"):
        class Legacy(nn.HybridBlock):
            def hybrid_forward(self, F, x):
                return F.FullyConnected(x)
        Legacy()(np.ones(2))


def test_names_are_unique_per_instance():
    a, b = nn.Dense(2), nn.Dense(2)
    assert a.name.startswith("dense") and a.name != b.name and a.name == a.name


def test_share_parameters_apply_cast_load_dict():
    a, b = nn.Dense(3, in_units=2), nn.Dense(3, in_units=2)
    a.initialize()
    b.initialize()
    b.share_parameters(a.collect_params())
    assert b.weight is a.weight and b.bias is a.bias
    x = np.ones((1, 2))
    onp.testing.assert_array_equal(a(x).asnumpy(), b(x).asnumpy())

    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), nn.Dropout(0.5), nn.Dense(2, in_units=4))
    seen = []
    assert net.apply(lambda blk: seen.append(type(blk).__name__)) is net
    assert seen == ["Dense", "Dropout", "Dense", "HybridSequential"]
    net.initialize()
    values = {k: onp.full(p.shape, i, onp.float32) for i, (k, p) in enumerate(net.collect_params().items())}
    net.load_dict({("arg:" + k if k.endswith("weight") else k): v for k, v in values.items()})
    for k, p in net.collect_params().items():
        onp.testing.assert_array_equal(p.data().asnumpy(), values[k])
    with pytest.raises(mx.HybridError, match="lacks parameters"):
        net.load_dict({"0.weight": values["0.weight"]})
    with pytest.raises(mx.HybridError, match="does not"):
        net.load_dict(dict(values, extra=onp.ones(1)))
    with pytest.raises(mx.HybridError, match="cast_dtype"):
        net.load_dict({k: v.astype(onp.float64) for k, v in values.items()})
    net.load_dict({k: v.astype(onp.float64) for k, v in values.items()}, cast_dtype=True, dtype_source="saved")
    assert net[0].weight.data().dtype == onp.float64
    net.cast("float32")
    assert all(p.data().dtype == onp.float32 for p in net.collect_params().values())


@pytest.mark.parametrize("hybridize", [False, True])
def test_forward_hooks(hybridize):
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    net.initialize()
    if hybridize:
        net.hybridize(backend="interp")
    calls = []
    pre = net.register_forward_pre_hook(lambda blk, inputs: calls.append(("pre", inputs[0].shape)))
    post = net.register_forward_hook(lambda blk, inputs, out: calls.append(("post", out.shape)))
    out = net(np.ones((4, 2)))
    assert calls == [("pre", (4, 2)), ("post", (4, 1))] and out.shape == (4, 1)
    pre.detach()
    post.detach()
    net(np.ones((4, 2)))
    assert len(calls) == 2


def test_op_hook_reports_every_op_output():
    net = nn.Dense(3, in_units=2, activation="relu")
    net.initialize()
    net.hybridize(backend="interp")
    seen = []
    with net.register_op_hook(lambda name, op, arr: seen.append((op, arr.asnumpy()))):
        x = onp.array([[1.0, -2.0]], onp.float32)
        out = net(np.array(x)).asnumpy()
    ops = [op for op, _ in seen]
    assert "matmul" in ops and "relu" in ops
    onp.testing.assert_allclose(seen[-1][1], out, rtol=1e-6)  # the last op computes the output
    net(np.array(x))
    assert len(seen) == len(ops)  # detached


def test_summary_and_optimize_for(capsys):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=1), nn.GlobalAvgPool2D(), nn.Dense(2, in_units=4))
    net.initialize()
    text = net.summary(np.ones((1, 1, 6, 6)))
    assert "Conv2D" in text and "(1, 4, 4, 4)" in text and "(1, 2)" in text
    total = 4 * 9 + 4 + 4 * 2 + 2
    assert f"Parameters in forward computation graph: {total}" in text
    assert text in capsys.readouterr().out
    x = np.ones((2, 1, 6, 6))
    eager = net(x).asnumpy()
    net.optimize_for(x, backend="llvm")
    assert "matmul" in net.ir() or "conv2d" in net.ir()
    onp.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5)
    net.optimize_for(x, backend="ONEDNN")      # MXNet's CPU partitioner: compiled by llvm
    assert net._compiled.options.backend == "llvm"
    onp.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5)
    with pytest.raises(HybridError, match="quantization is not offered"):
        net.optimize_for(x, backend="ONEDNN_QUANTIZE")


class _Regression(gluon.HybridBlock):
    """forward reads a parameter of unknown shape itself; infer_shape fixes it from the input (MXNet 2)."""

    def __init__(self):
        super().__init__()
        self.w = gluon.Parameter("w", shape=(0, 3), allow_deferred_init=True)

    def forward(self, x):
        return npx.relu(np.dot(x, self.w.data()))

    def infer_shape(self, x, *args):
        self.w.shape = (x.shape[-1], self.w.shape[1])


@pytest.mark.parametrize("backend", [None, "interp", "llvm"])
def test_infer_shape_hook_sets_deferred_shapes(backend):
    net = _Regression()
    net.initialize(mx.init.Uniform(0.5))
    if backend:
        net.hybridize(backend=backend)
    x = onp.random.default_rng(3).normal(size=(4, 5)).astype("f4")
    out = net(np.array(x)).asnumpy()
    assert net.w.shape == (5, 3)
    onp.testing.assert_allclose(out, onp.maximum(x @ net.w.data().asnumpy(), 0), rtol=1e-5, atol=1e-6)


def test_summary_takes_state_lists_and_refuses_hybridized_blocks():
    """MXNet's summary(x, begin_state) of an RNN layer (a list argument), and its AssertionError for a
    hybridized block, whose layers run inside one compiled graph."""
    lstm = gluon.rnn.LSTM(6)
    lstm.initialize()
    state = lstm.begin_state(4)
    text = lstm.summary(np.ones((5, 4, 3)), state)
    assert "(5, 4, 3), (1, 4, 6), (1, 4, 6)" in text and "(5, 4, 6)" in text
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=3))
    net.initialize()
    net.hybridize()
    with pytest.raises(AssertionError, match="before hybridize"):
        net.summary(np.ones((1, 3)))
    net.hybridize(False)
    assert "Dense" in net.summary(np.ones((1, 3)))


@pytest.mark.parametrize("shape", [4, onp.int64(4), (4,)])
def test_parameter_takes_one_int_as_a_1d_shape(shape):
    """MXNet's Parameter('bias', shape=num_filter): an int is a 1-d shape."""
    p = gluon.Parameter("bias", shape=shape, init=mx.init.One())
    p.initialize()
    assert p.shape == (4,) and p.data().shape == (4,)
    onp.testing.assert_array_equal(p.data().asnumpy(), onp.ones(4, "float32"))
