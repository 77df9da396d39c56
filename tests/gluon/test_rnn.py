"""gluon.rnn against torch.nn.LSTM / GRU / RNN with the same weights (MXNet's gate order is PyTorch's),
eager and hybridized; cells against the layers; one scan whatever the sequence length."""
import numpy as onp
import pytest
import torch

import hybrid as hb
from hybrid import autograd, np
from hybrid.gluon import rnn
from hybrid.gluon.utils import split_rnn_params

T, N, C, H = 5, 3, 4, 6
TORCH_NAMES = {"i2h_weight": "weight_ih", "h2h_weight": "weight_hh", "i2h_bias": "bias_ih", "h2h_bias": "bias_hh"}
LAYERS = {"lstm": (rnn.LSTM, torch.nn.LSTM, {}), "gru": (rnn.GRU, torch.nn.GRU, {}),
          "rnn_tanh": (rnn.RNN, torch.nn.RNN, {"activation": "tanh"})}


def pieces(net, fused):
    """A layer's fused rnn_param (or its gradient) as named pieces: {'l0_i2h_weight': ..., ...}."""
    mode = net._fused_mode
    return {k: v.asnumpy() for k, v in split_rnn_params(fused, mode, net._num_layers, C, H, net._dir == 2).items()}


def torch_name(name):
    """l0_i2h_weight -> weight_ih_l0, r1_h2h_bias -> bias_hh_l1_reverse."""
    direction, rest = name[0], name[1:]
    layer, kind = rest.split("_", 1)
    return f"{TORCH_NAMES[kind]}_l{layer}" + ("_reverse" if direction == "r" else "")


def torch_twin(net, torch_cls, num_layers, bidirectional, **kwargs):
    """A torch layer holding `net`'s weights."""
    ref = torch_cls(C, H, num_layers=num_layers, bidirectional=bidirectional,
                    **({"nonlinearity": kwargs["activation"]} if "activation" in kwargs else {})).double()
    with torch.no_grad():
        for name, value in pieces(net, net.rnn_param.data()).items():
            getattr(ref, torch_name(name)).copy_(torch.from_numpy(value.astype("f8")))
    return ref


def grads_of(net, x, states, layout):
    xs = np.array(x)
    xs.attach_grad()
    with autograd.record():
        out, new_states = net(xs, [np.array(s) for s in states])
        loss = (out * out).sum() + sum((s * s).sum() for s in new_states)
    loss.backward()
    params = pieces(net, net.rnn_param.grad())
    return out.asnumpy(), [s.asnumpy() for s in new_states], xs.grad.asnumpy(), params


def _layer_cases():
    """Every mode and layout eagerly; compiled (slower: LLVM builds the backward too) LSTM in TNC and
    GRU in NTC by default, the rest under -m slow."""
    cases = []
    for mode in sorted(LAYERS):
        for layout in ("TNC", "NTC"):
            cases.append(pytest.param(mode, layout, None, id=f"{mode}-{layout}-eager"))
            fast = (mode, layout) in (("lstm", "TNC"), ("gru", "NTC"))
            cases.append(pytest.param(mode, layout, "llvm", id=f"{mode}-{layout}-llvm",
                                      marks=() if fast else pytest.mark.slow))
    return cases


@pytest.mark.parametrize("mode, layout, backend", _layer_cases())
def test_layers_match_torch_outputs_and_gradients(mode, layout, backend):
    layer_cls, torch_cls, kwargs = LAYERS[mode]
    net = layer_cls(H, num_layers=2, bidirectional=True, layout=layout, input_size=C, dtype="float64", **kwargs)
    net.initialize()
    if backend:
        net.hybridize(backend=backend)
    ref = torch_twin(net, torch_cls, 2, True, **kwargs)
    rng = onp.random.default_rng(1)
    x = rng.normal(size=(T, N, C) if layout == "TNC" else (N, T, C))
    states = [rng.normal(size=(4, N, H)) for _ in net.state_info(N)]
    out, new_states, dx, dparams = grads_of(net, x, states, layout)

    tx = torch.tensor(x if layout == "TNC" else x.transpose(1, 0, 2), requires_grad=True)
    tstates = [torch.tensor(s) for s in states]
    tout, tnew = ref(tx, tuple(tstates) if mode == "lstm" else tstates[0])
    tnew = list(tnew) if mode == "lstm" else [tnew]
    tout_l = tout if layout == "TNC" else tout.transpose(0, 1)
    ((tout * tout).sum() + sum((s * s).sum() for s in tnew)).backward()
    onp.testing.assert_allclose(out, tout_l.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(new_states, tnew):
        onp.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-5, atol=1e-5)
    want_dx = tx.grad.numpy() if layout == "TNC" else tx.grad.numpy().transpose(1, 0, 2)
    onp.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)
    assert len(dparams) == 16
    for name, g in dparams.items():
        onp.testing.assert_allclose(g, getattr(ref, torch_name(name)).grad.numpy(), rtol=1e-5, atol=1e-5,
                                    err_msg=name)


def test_mxnet_parameter_names_and_shapes():
    net = rnn.LSTM(8, num_layers=2, bidirectional=True, input_size=5)
    assert list(net.collect_params()) == ["rnn_param"]               # MXNet 2: one fused vector
    assert net.rnn_param.shape == (2 * 32 * 5 + 2 * 32 * 8 + 2 * 32 * 16 + 2 * 32 * 8 + 8 * 32,)
    net.initialize()
    shapes = {k: v.shape for k, v in split_rnn_params(net.rnn_param.data(), "lstm", 2, 5, 8, True).items()}
    assert shapes["l0_i2h_weight"] == (32, 5) and shapes["r0_h2h_weight"] == (32, 8)
    assert shapes["l1_i2h_weight"] == (32, 16) and shapes["r1_h2h_bias"] == (32,)
    assert len(shapes) == 16
    assert set(rnn.GRUCell(3, input_size=2).collect_params()) == {"i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"}


@pytest.mark.parametrize("layer, mode", [(rnn.LSTM, "lstm"), (rnn.GRU, "gru"), (rnn.RNN, "rnn_relu")])
def test_split_rnn_params_follows_mxnet2_fused_layout(layer, mode):
    # MXNet 2 stores a layer's weights as one vector: all weights (layer, direction, i2h then h2h),
    # then all biases in the same order; the pieces get their own initializers
    net = layer(6, num_layers=2, bidirectional=True, input_size=5, i2h_bias_initializer="ones",
                h2h_weight_initializer=hb.init.Constant(0.5))
    net.initialize(hb.init.Uniform(1.0))
    fused = net.rnn_param.data()
    split = split_rnn_params(fused, mode, 2, 5, 6, bidirectional=True)
    order = [f"{d}{i}_{g}_{kind}" for kind in ("weight", "bias") for i in range(2) for d in "lr" for g in ("i2h", "h2h")]
    assert list(split) == order
    onp.testing.assert_array_equal(onp.concatenate([split[n].asnumpy().ravel() for n in order]), fused.asnumpy())
    for name, value in split.items():
        kind = name.split("_", 1)[1]
        expected = {"i2h_bias": 1.0, "h2h_bias": 0.0, "h2h_weight": 0.5}.get(kind)
        if expected is None:        # i2h weights: no initializer of their own, so the global Uniform(1.0), as MXNet
            assert 0.07 < onp.abs(value.asnumpy()).max() <= 1.0, name
        else:
            assert (value.asnumpy() == expected).all(), name
    gates = {"lstm": 4, "gru": 3, "rnn_relu": 1}[mode] * 6
    assert split["l1_i2h_weight"].shape == (gates, 12) and split["r0_h2h_weight"].shape == (gates, 6)
    with pytest.raises(hb.HybridError, match="parameters"):
        split_rnn_params(fused[:-1], mode, 2, 5, 6, bidirectional=True)
    projected = split_rnn_params(np.zeros(4 * 6 * 5 + 4 * 6 * 3 + 3 * 6 + 2 * 4 * 6), "lstm", 1, 5, 6,
                                 projection_size=3)
    assert {k: v.shape for k, v in projected.items()} == {
        "l0_i2h_weight": (24, 5), "l0_h2h_weight": (24, 3), "l0_h2r_weight": (3, 6), "l0_i2h_bias": (24,),
        "l0_h2h_bias": (24,)}


def test_states_are_returned_only_when_given():
    net = rnn.GRU(H, layout="NTC")
    net.initialize()
    x = np.array(onp.ones((N, T, C), "f4"))
    out = net(x)
    assert out.shape == (N, T, H)
    out, states = net(x, net.begin_state(N))
    assert out.shape == (N, T, H) and states[0].shape == (1, N, H)


def test_hybridized_lstm_is_one_scan_whatever_the_length():
    counts = []
    for length in (5, 500):
        net = rnn.LSTM(16, num_layers=2, input_size=8)
        net.initialize()
        graph = hb.trace(net, onp.zeros((length, 2, 8), "f4"))
        counts.append(graph.node_count())
        assert sum(node.op == "scan" for node in graph.nodes) == 2
    assert counts[0] == counts[1]


def test_valid_lengths_mask_and_do_not_recompile():
    net = rnn.LSTM(H, num_layers=2, input_size=C, bidirectional=True, use_sequence_length=True, dtype="float64")
    net.initialize()
    ref = torch_twin(net, torch.nn.LSTM, 2, True)
    x = onp.random.default_rng(2).normal(size=(T, N, C))
    net.hybridize(backend="llvm")
    for lengths in ([5, 2, 3], [1, 4, 5]):
        out, (h, c) = net(np.array(x), net.begin_state(N, dtype="float64"), np.array(onp.array(lengths, "i4")))
        out = out.asnumpy()
        for n, length in enumerate(lengths):   # each sequence alone, cut to its length
            tout, (th, tc) = ref(torch.from_numpy(x[:length, n:n + 1]))
            onp.testing.assert_allclose(out[:length, n], tout[:, 0].detach().numpy(), rtol=1e-5, atol=1e-6)
            onp.testing.assert_allclose(out[length:, n], 0.0)
            onp.testing.assert_allclose(h.asnumpy()[:, n], th[:, 0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert len(net._compiled.cache) == 1


@pytest.mark.parametrize("backend", [None, "llvm"], ids=["eager", "llvm"])
def test_cells_unroll_like_the_layers(backend):
    layer = rnn.LSTM(H, num_layers=2, input_size=C, layout="NTC")
    layer.initialize()
    stack = rnn.SequentialRNNCell()
    stack.add(rnn.LSTMCell(H, input_size=C))
    stack.add(rnn.LSTMCell(H, input_size=H))
    stack.initialize()
    weights = pieces(layer, layer.rnn_param.data())
    for k, cell in enumerate([stack[0], stack[1]]):
        for kind in TORCH_NAMES:
            getattr(cell, kind).set_data(weights[f"l{k}_{kind}"])
    x = np.array(onp.random.default_rng(3).normal(size=(N, T, C)).astype("f4"))

    class Unrolled(hb.nn.HybridBlock):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell

        def forward(self, x):
            out, states = self.cell.unroll(T, x, layout="NTC", merge_outputs=True)
            return out, states[2]

    wrapped = Unrolled(stack)
    if backend:
        wrapped.hybridize(backend=backend)
    out, h1 = wrapped(x)
    want, (h, _) = layer(x, layer.begin_state(N))
    onp.testing.assert_allclose(out.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(h1.asnumpy(), h.asnumpy()[1], rtol=1e-5, atol=1e-6)


def test_bidirectional_residual_and_list_unroll():
    layer = rnn.GRU(H, input_size=C, bidirectional=True)
    layer.initialize()
    bi = rnn.BidirectionalCell(rnn.GRUCell(H, input_size=C), rnn.GRUCell(H, input_size=C))
    bi.initialize()
    weights = pieces(layer, layer.rnn_param.data())
    for cell, d in ((bi.l_cell, "l"), (bi.r_cell, "r")):
        for kind in TORCH_NAMES:
            getattr(cell, kind).set_data(weights[f"{d}0_{kind}"])
    x = onp.random.default_rng(4).normal(size=(T, N, C)).astype("f4")
    steps, states = bi.unroll(T, [np.array(x[t]) for t in range(T)], layout="TNC")
    assert isinstance(steps, list) and len(steps) == T and len(states) == 2
    onp.testing.assert_allclose(onp.stack([s.asnumpy() for s in steps]), layer(np.array(x)).asnumpy(),
                                rtol=1e-5, atol=1e-6)
    with pytest.raises(hb.HybridError, match="unroll"):
        bi(np.array(x[0]), bi.begin_state(N))
    res = rnn.ResidualCell(rnn.RNNCell(C, input_size=C))
    res.initialize()
    out, _ = res(np.array(x[0]), res.begin_state(N))
    inner, _ = res.base_cell(np.array(x[0]), res.begin_state(N))
    onp.testing.assert_allclose(out.asnumpy(), inner.asnumpy() + x[0], rtol=1e-6)


def test_dropout_and_zoneout_cells():
    cell = rnn.SequentialRNNCell()
    cell.add(rnn.DropoutCell(0.5))
    cell.add(rnn.ZoneoutCell(rnn.LSTMCell(H, input_size=C), zoneout_outputs=0.3, zoneout_states=0.3))
    cell.initialize()
    x = np.array(onp.ones((N, T, C), "f4"))
    plain, _ = cell.unroll(T, x, merge_outputs=True)     # inference: both are identities
    base = cell[1].base_cell.unroll(T, x, merge_outputs=True)[0]
    onp.testing.assert_allclose(plain.asnumpy(), base.asnumpy(), rtol=1e-6)
    with autograd.record():
        noisy, states = cell.unroll(T, x, merge_outputs=True)
    assert noisy.shape == (N, T, H) and len(states) == 2
    assert not onp.allclose(noisy.asnumpy(), plain.asnumpy())


def test_stack_of_bidirectional_cells_matches_the_fused_layer_after_infer_shape():
    # MXNet 2's recipe: infer shapes, copy the fused layer's pieces into a stack of cells, unroll
    layer = rnn.GRU(H, num_layers=2, bidirectional=True)
    x = np.array(onp.random.default_rng(5).normal(size=(T, N, C)).astype("f4"))
    layer.infer_shape(x, layer.begin_state(N))           # before initialize: only the shape is set
    assert layer.rnn_param.shape[0] > 0 and not layer.rnn_param.is_initialized
    layer.initialize()
    stack = rnn.HybridSequentialRNNCell()
    for _ in range(2):
        stack.add(rnn.BidirectionalCell(rnn.GRUCell(H), rnn.GRUCell(H)))
    stack.infer_shape(0, x, False)
    assert stack[1].l_cell.i2h_weight.shape == (3 * H, 2 * H) and stack[0].r_cell.i2h_weight.shape == (3 * H, C)
    stack.initialize()
    weights = pieces(layer, layer.rnn_param.data())
    for name, value in weights.items():
        d, rest = name[0], name[1:]
        index, kind = rest.split("_", 1)
        cell = getattr(stack[int(index)], f"{d}_cell")
        getattr(cell, kind).set_data(value)
    want, want_states = layer(x, layer.begin_state(N))
    got, got_states = stack.unroll(T, x, layout="TNC", merge_outputs=True)
    onp.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6)
    # the stack's states are [l0, r0, l1, r1]; the layer's are stacked in the same order
    onp.testing.assert_allclose(onp.stack([s.asnumpy() for s in got_states]), want_states[0].asnumpy(),
                                rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", [None, "interp", "llvm", "cuda"])
def test_cell_activations_match_numpy(backend):
    # MXNet 2's activation (candidate / new gate, cell output) and recurrent_activation (the gates)
    import shutil
    if backend == "cuda" and shutil.which("g++") is None:
        pytest.skip("g++ not found: the CUDA emulator needs it")
    rng = onp.random.default_rng(7)
    x, h0, c0 = rng.normal(size=(N, C)).astype("f4"), rng.normal(size=(N, H)).astype("f4"), \
        rng.normal(size=(N, H)).astype("f4")
    relu = lambda v: onp.maximum(v, 0)   # noqa: E731
    for cls, states in ((rnn.LSTMCell, [h0, c0]), (rnn.GRUCell, [h0])):
        cell = cls(H, input_size=C, activation="relu", recurrent_activation="tanh")
        cell.initialize(hb.init.Uniform(0.5))
        w = {k: p.data().asnumpy() for k, p in cell.collect_params().items()}
        xw = x @ w["i2h_weight"].T + w["i2h_bias"]
        hw = h0 @ w["h2h_weight"].T + w["h2h_bias"]
        if cls is rnn.LSTMCell:
            i, f, g, o = onp.split(xw + hw, 4, axis=1)
            c = onp.tanh(f) * c0 + onp.tanh(i) * relu(g)
            want = onp.tanh(o) * relu(c)
        else:
            (xr, xz, xn), (hr, hz, hn) = onp.split(xw, 3, axis=1), onp.split(hw, 3, axis=1)
            r, z = onp.tanh(xr + hr), onp.tanh(xz + hz)
            want = (1 - z) * relu(xn + r * hn) + z * h0
        if backend:
            cell.hybridize(backend=backend, **({"runtime": "emulator"} if backend == "cuda" else {}))
        xs = np.array(x)
        xs.attach_grad()
        with autograd.record():
            out, _ = cell(xs, [np.array(s) for s in states])
        out.backward()
        onp.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-5)
        # the input gradient of sum(out) against central differences of the NumPy step
        eps, probe = 1e-3, (1, 2)
        bumped = []
        for sign in (1, -1):
            xp = x.astype("f8").copy()
            xp[probe] += sign * eps
            xwp = xp @ w["i2h_weight"].T + w["i2h_bias"]
            if cls is rnn.LSTMCell:
                i, f, g, o = onp.split(xwp + hw, 4, axis=1)
                bumped.append((onp.tanh(o) * relu(onp.tanh(f) * c0 + onp.tanh(i) * relu(g))).sum())
            else:
                (xr, xz, xn), (hr, hz, hn) = onp.split(xwp, 3, axis=1), onp.split(hw, 3, axis=1)
                r, z = onp.tanh(xr + hr), onp.tanh(xz + hz)
                bumped.append(((1 - z) * relu(xn + r * hn) + z * h0).sum())
        onp.testing.assert_allclose(xs.grad.asnumpy()[probe], (bumped[0] - bumped[1]) / (2 * eps), rtol=1e-2, atol=1e-3)


def mxnet1_name(torch_param_name):
    """weight_ih_l0 -> l0_i2h_weight, bias_hh_l1_reverse -> r1_h2h_bias (MXNet 1.x's per-layer names)."""
    kind = {v: k for k, v in TORCH_NAMES.items()}
    reverse = torch_param_name.endswith("_reverse")
    base = torch_param_name.removesuffix("_reverse")
    stem, layer = base.rsplit("_l", 1)
    return f"{'r' if reverse else 'l'}{layer}_{kind[stem]}"


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_per_layer_parameter_files_load_into_the_fused_layer(tmp_path, mode):
    """A file with MXNet 1.x's per-layer names (l0_i2h_weight, ...; also hybrid's earlier layers), nested
    under a child's prefix, loads into a model whose layer has not seen an input yet; the joined
    rnn_param gives torch's outputs for the same weights."""
    layer_cls, torch_cls, kwargs = LAYERS[mode]
    rng = onp.random.default_rng(3)
    ref = torch_cls(C, H, num_layers=2, bidirectional=True,
                    **({"nonlinearity": kwargs["activation"]} if "activation" in kwargs else {})).double()
    saved = {f"enc.{mxnet1_name(name)}": p.detach().numpy() for name, p in ref.named_parameters()}
    saved["out.weight"], saved["out.bias"] = rng.normal(size=(2, 2 * H)), rng.normal(size=2)
    path = tmp_path / "legacy.params"
    with open(path, "wb") as f:
        onp.savez(f, **saved)

    class Model(hb.gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.enc = layer_cls(H, num_layers=2, bidirectional=True, dtype="float64", **kwargs)
            self.out = hb.gluon.nn.Dense(2, flatten=False, dtype="float64")

        def forward(self, x):
            return self.out(self.enc(x))

    net = Model()
    net.load_parameters(str(path))
    assert list(net.collect_params()) == ["enc.rnn_param", "out.weight", "out.bias"]
    x = rng.normal(size=(T, N, C))
    want = ref(torch.from_numpy(x))[0].detach().numpy() @ saved["out.weight"].T + saved["out.bias"]
    onp.testing.assert_allclose(net(np.array(x)).asnumpy(), want, rtol=1e-6, atol=1e-6)
    for name, value in pieces(net.enc, net.enc.rnn_param.data()).items():
        onp.testing.assert_array_equal(value, saved[f"enc.{name}"], err_msg=name)


def test_per_layer_file_missing_a_piece_names_it(tmp_path):
    saved = {name: p.detach().numpy() for name, p in
             ((mxnet1_name(n), p) for n, p in torch.nn.GRU(C, H).double().named_parameters())}
    del saved["l0_h2h_bias"]
    path = tmp_path / "partial.params"
    with open(path, "wb") as f:
        onp.savez(f, **saved)
    net = rnn.GRU(H, dtype="float64")
    with pytest.raises(hb.HybridError, match="l0_h2h_bias"):
        net.load_parameters(str(path))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("input_size", [C, 0], ids=["known-input", "deferred"])
def test_rnn_weights_default_to_the_global_initializer(mode, input_size):
    """MXNet's rnn layers and cells initialize i2h/h2h weights without an initializer of their own with the
    one passed to initialize() (RNNFused.set_initializer; a cell's Parameter(init=None)); their biases keep
    'zeros'; without a global one, Gluon's Uniform(0.07). A Mixed global is resolved by each piece's name."""
    layer_cls, _, kwargs = LAYERS[mode]
    x = np.array(onp.random.default_rng(0).standard_normal((T, N, C)).astype("f4"))
    net = layer_cls(H, num_layers=2, bidirectional=True, input_size=input_size,
                    h2h_weight_initializer=hb.init.Constant(-0.25), **kwargs)
    net.initialize(hb.init.Constant(0.5))
    net(x)
    for name, value in pieces(net, net.rnn_param.data()).items():
        expected = {"i2h_weight": 0.5, "h2h_weight": -0.25}.get(name.split("_", 1)[1], 0.0)
        assert (value == expected).all(), name
    cell = {"lstm": rnn.LSTMCell, "gru": rnn.GRUCell, "rnn_tanh": rnn.RNNCell}[mode](H, input_size=input_size)
    cell.initialize(hb.init.Constant(0.5))
    cell(x[0], cell.begin_state(N))
    params = {k: v.data().asnumpy() for k, v in cell.collect_params().items()}
    assert (params["i2h_weight"] == 0.5).all() and (params["h2h_weight"] == 0.5).all()
    assert (params["i2h_bias"] == 0).all() and (params["h2h_bias"] == 0).all()
    mixed = layer_cls(H, input_size=C, **kwargs)
    mixed.initialize(hb.init.Mixed([".*h2h_weight", ".*"], [hb.init.Constant(2.0), hb.init.Constant(3.0)]))
    split = pieces(mixed, mixed.rnn_param.data())
    assert (split["l0_h2h_weight"] == 2.0).all() and (split["l0_i2h_weight"] == 3.0).all()
    assert (split["l0_i2h_bias"] == 0).all()
    plain = layer_cls(H, input_size=C, **kwargs)
    plain.initialize()
    weight = pieces(plain, plain.rnn_param.data())["l0_i2h_weight"]
    assert 0 < onp.abs(weight).max() <= 0.07
