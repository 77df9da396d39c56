"""MXNet 2's LSTMP (LSTM(projection_size=), LSTMPCell), VariationalDropoutCell, rnn_cell.dynamic_unroll and
the convolutional cells: against torch (whose LSTM takes proj_size, with MXNet's gate order) and NumPy
references, eager and hybridized (interp, llvm, the CUDA emulator), gradients by torch's autograd and central
differences."""
import shutil

import numpy as onp
import pytest
import torch

import hybrid as hb
from hybrid import autograd, np, npx
from hybrid.gluon import HybridBlock, rnn
from hybrid.gluon.utils import split_rnn_params

T, N, C, H, P = 4, 3, 5, 6, 3
BACKENDS = [None, "interp", "llvm", "cuda"]


def hybridize(block, backend):
    if backend == "cuda" and shutil.which("g++") is None:
        pytest.skip("g++ not found: the CUDA emulator needs it")
    if backend:
        block.hybridize(backend=backend, **({"runtime": "emulator"} if backend == "cuda" else {}))


def torch_lstmp(net, num_layers, bidirectional):
    """torch.nn.LSTM(proj_size=P) holding the fused layer's weights (weight_hr_l0 is MXNet's h2r_weight)."""
    names = {"i2h_weight": "weight_ih", "h2h_weight": "weight_hh", "i2h_bias": "bias_ih", "h2h_bias": "bias_hh",
             "h2r_weight": "weight_hr"}
    ref = torch.nn.LSTM(C, H, num_layers=num_layers, bidirectional=bidirectional, proj_size=P).double()
    pieces = split_rnn_params(net.rnn_param.data(), "lstm", num_layers, C, H, bidirectional, P)
    with torch.no_grad():
        for name, value in pieces.items():
            layer, kind = name[1:].split("_", 1)
            target = f"{names[kind]}_l{layer}" + ("_reverse" if name[0] == "r" else "")
            getattr(ref, target).copy_(torch.from_numpy(value.asnumpy().astype("f8")))
    return ref, pieces


@pytest.mark.parametrize("backend, num_layers, bidirectional, dtype", [
    (None, 2, True, "float64"), ("interp", 1, False, "float32"), ("llvm", 1, False, "float32"),
    pytest.param("cuda", 1, False, "float32", marks=pytest.mark.slow)])
def test_lstm_projection_matches_torch(backend, num_layers, bidirectional, dtype):
    net = rnn.LSTM(H, num_layers=num_layers, bidirectional=bidirectional, projection_size=P, input_size=C,
                   dtype=dtype)
    net.initialize(hb.init.Uniform(0.4))
    d = 2 if bidirectional else 1
    assert [s["shape"] for s in net.state_info(N)] == [(num_layers * d, N, P), (num_layers * d, N, H)]
    ref, pieces = torch_lstmp(net, num_layers, bidirectional)
    assert pieces["l0_h2h_weight"].shape == (4 * H, P) and pieces["l0_h2r_weight"].shape == (P, H)
    hybridize(net, backend)
    rng = onp.random.default_rng(2)
    x = rng.normal(size=(T, N, C))
    h0, c0 = rng.normal(size=(num_layers * d, N, P)), rng.normal(size=(num_layers * d, N, H))
    xs = np.array(x.astype(dtype))
    xs.attach_grad()
    with autograd.record():
        out, (h, c) = net(xs, [np.array(h0.astype(dtype)), np.array(c0.astype(dtype))])
        loss = (out * out).sum() + (h * h).sum() + (c * c).sum()
    loss.backward()
    tx = torch.tensor(x, requires_grad=True)
    tout, (th, tc) = ref(tx, (torch.tensor(h0), torch.tensor(c0)))
    ((tout * tout).sum() + (th * th).sum() + (tc * tc).sum()).backward()
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)
    assert out.shape == (T, N, d * P)
    for got, want in ((out, tout), (h, th), (c, tc), (xs.grad, tx.grad)):
        onp.testing.assert_allclose(got.asnumpy(), want.detach().numpy(), **tol)
    if dtype == "float64":   # every weight's gradient too
        grads = split_rnn_params(net.rnn_param.grad(), "lstm", num_layers, C, H, bidirectional, P)
        onp.testing.assert_allclose(grads["r1_h2r_weight"].asnumpy(), ref.weight_hr_l1_reverse.grad.numpy(), **tol)
        onp.testing.assert_allclose(grads["l0_i2h_weight"].asnumpy(), ref.weight_ih_l0.grad.numpy(), **tol)


def lstmp_step(x, r, c, w):
    """One LSTMP step in NumPy: gates from x and the projected state r, then r' = h @ h2r.T."""
    sig = lambda v: 1 / (1 + onp.exp(-v))   # noqa: E731
    z = x @ w["i2h_weight"].T + w["i2h_bias"] + r @ w["h2h_weight"].T + w["h2h_bias"]
    i, f, g, o = onp.split(z, 4, axis=1)
    c = sig(f) * c + sig(i) * onp.tanh(g)
    return (sig(o) * onp.tanh(c)) @ w["h2r_weight"].T, c


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstmp_cell_step_matches_numpy_with_central_differences(backend):
    cell = rnn.LSTMPCell(H, P, input_size=C)
    cell.initialize(hb.init.Uniform(0.5))
    assert sorted(cell.collect_params()) == ["h2h_bias", "h2h_weight", "h2r_weight", "i2h_bias", "i2h_weight"]
    assert [s["shape"] for s in cell.state_info(N)] == [(N, P), (N, H)]
    w = {k: p.data().asnumpy().astype("f8") for k, p in cell.collect_params().items()}
    rng = onp.random.default_rng(4)
    x, r0, c0 = rng.normal(size=(N, C)), rng.normal(size=(N, P)), rng.normal(size=(N, H))
    hybridize(cell, backend)
    xs = np.array(x.astype("f4"))
    xs.attach_grad()
    with autograd.record():
        out, (r, c) = cell(xs, [np.array(r0.astype("f4")), np.array(c0.astype("f4"))])
        loss = out.sum() + c.sum()
    loss.backward()
    want_r, want_c = lstmp_step(x, r0, c0, w)
    onp.testing.assert_allclose(out.asnumpy(), want_r, rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(r.asnumpy(), want_r, rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(c.asnumpy(), want_c, rtol=1e-5, atol=1e-5)
    eps = 1e-6
    for probe in ((0, 0), (2, 4)):
        bumped = []
        for sign in (1, -1):
            xp = x.copy()
            xp[probe] += sign * eps
            rr, cc = lstmp_step(xp, r0, c0, w)
            bumped.append(rr.sum() + cc.sum())
        onp.testing.assert_allclose(xs.grad.asnumpy()[probe], (bumped[0] - bumped[1]) / (2 * eps), rtol=1e-3,
                                    atol=1e-4)


def test_stack_of_lstmp_cells_unrolls_like_the_projected_layer():
    """MXNet's test_lstmp: the fused layer's pieces set into a stack of (bidirectional) LSTMPCells."""
    layer = rnn.LSTM(H, num_layers=2, bidirectional=True, projection_size=P, input_size=C)
    layer.initialize(hb.init.Uniform(0.4))
    stack = rnn.HybridSequentialRNNCell()
    for _ in range(2):
        stack.add(rnn.BidirectionalCell(rnn.LSTMPCell(H, P), rnn.LSTMPCell(H, P)))
    x = np.array(onp.random.default_rng(5).normal(size=(T, N, C)).astype("f4"))
    stack.infer_shape(0, x, False)
    stack.initialize()
    params = stack.collect_params()
    for name, value in split_rnn_params(layer.rnn_param.data(), "lstm", 2, C, H, True, P).items():
        layer_no, kind = name[1:].split("_", 1)
        params[f"{layer_no}.{name[0]}_cell.{kind}"].set_data(value)
    out, states = layer(x, layer.begin_state(N))
    stack_out, stack_states = stack.unroll(T, x, begin_state=stack.begin_state(N), layout="TNC", merge_outputs=True)
    onp.testing.assert_allclose(stack_out.asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)
    # the stack's states: per layer [l_h, l_c, r_h, r_c]; the layer's: h (4, N, P) and c (4, N, H)
    for k in range(4):
        onp.testing.assert_allclose(stack_states[2 * k].asnumpy(), states[0][k].asnumpy(), rtol=1e-5, atol=1e-6)
        onp.testing.assert_allclose(stack_states[2 * k + 1].asnumpy(), states[1][k].asnumpy(), rtol=1e-5, atol=1e-6)


def rnn_reference(x, h0, w, state_mask):
    """The RNNCell (tanh) recurrence in NumPy, time-major x, the state masked before h2h."""
    h, outs = h0, []
    for t in range(x.shape[0]):
        h = onp.tanh(x[t] @ w["i2h_weight"].T + w["i2h_bias"] + (h * state_mask) @ w["h2h_weight"].T + w["h2h_bias"])
        outs.append(h)
    return onp.stack(outs)


@pytest.mark.parametrize("backend", [None, "llvm"])
def test_variational_dropout_state_mask_matches_numpy(backend):
    """drop_states: one mask for the whole sequence on the state entering h2h (hb's counter-based draws
    give the mask an explicit draw with the same seed makes)."""
    cell = rnn.VariationalDropoutCell(rnn.RNNCell(H, input_size=C), drop_states=0.5)
    cell.initialize(hb.init.Uniform(0.5))
    hybridize(cell.base_cell, backend)
    w = {k.split(".")[-1]: p.data().asnumpy().astype("f8") for k, p in cell.collect_params().items()}
    rng = onp.random.default_rng(6)
    x, h0 = rng.normal(size=(T, N, C)), rng.normal(size=(N, H))
    np.random.seed(11)
    with autograd.train_mode():
        mask = npx.dropout(np.ones((N, H)), 0.5).asnumpy()
    assert set(onp.unique(mask)) == {0.0, 2.0}
    np.random.seed(11)
    with autograd.record():
        out, _ = cell.unroll(T, np.array(x.astype("f4")), [np.array(h0.astype("f4"))], layout="TNC")
    onp.testing.assert_allclose(out.asnumpy(), rnn_reference(x, h0, w, mask), rtol=1e-5, atol=1e-5)
    with autograd.predict_mode():   # no dropout outside training
        plain, _ = cell.unroll(T, np.array(x.astype("f4")), [np.array(h0.astype("f4"))], layout="TNC")
    onp.testing.assert_allclose(plain.asnumpy(), rnn_reference(x, h0, w, 1.0), rtol=1e-5, atol=1e-5)


def test_variational_dropout_masks_are_shared_along_time_and_redrawn_per_sequence():
    cell = rnn.VariationalDropoutCell(rnn.GRUCell(H, input_size=C), drop_inputs=0.5, drop_outputs=0.5)
    cell.initialize()
    x = np.array(onp.random.default_rng(7).normal(size=(N, T, C)).astype("f4"))
    x.attach_grad()
    with autograd.record():
        out, _ = cell.unroll(T, x, merge_outputs=True)
    out.backward()
    with autograd.predict_mode():
        plain, _ = cell.unroll(T, x, merge_outputs=True)
    # the output mask: out = (GRU on masked inputs) * mask, zero at the same (n, c) at every step
    zero = out.asnumpy() == 0
    assert (zero == zero[:, :1]).all() and 0 < zero.mean() < 1
    # the input mask: the input gradient is zero at the same (n, c) at every step
    dropped = x.grad.asnumpy() == 0
    assert (dropped == dropped[:, :1]).all() and 0 < dropped.mean() < 1
    assert not onp.allclose(out.asnumpy(), plain.asnumpy())
    with autograd.record():
        again, _ = cell.unroll(T, x, merge_outputs=True)
    assert not onp.array_equal(again.asnumpy() == 0, zero)   # a new sequence draws new masks
    # stepping by hand keeps the first step's masks until reset()
    states = cell.begin_state(N)
    with autograd.record():
        steps = [cell(x[:, t], states)[0].asnumpy() == 0 for t in range(2)]
    assert (steps[0] == steps[1]).all()


class DynamicUnroll(HybridBlock):
    def __init__(self, cell, layout):
        super().__init__()
        self.cell, self.layout = cell, layout

    def forward(self, inputs, states, valid_length):
        return rnn.rnn_cell.dynamic_unroll(self.cell, inputs, states, valid_length=valid_length, layout=self.layout)


@pytest.mark.parametrize("layout, backend", [("TNC", None), ("NTC", "interp"),
                                             pytest.param("TNC", "llvm", marks=pytest.mark.slow)])
def test_dynamic_unroll_matches_unroll_with_valid_lengths(layout, backend):
    cell = rnn.LSTMCell(H, input_size=C)
    cell.initialize(hb.init.Uniform(0.5))
    rng = onp.random.default_rng(8)
    x = rng.normal(size=(T, N, C) if layout == "TNC" else (N, T, C)).astype("f4")
    states = [np.array(rng.normal(size=(N, H)).astype("f4")) for _ in range(2)]
    valid = np.array([4.0, 1.0, 3.0])

    def run(fn):
        xs = np.array(x)
        xs.attach_grad()
        with autograd.record():
            out, new = fn(xs)
            loss = (out * out).sum() + sum((s * s).sum() for s in new)
        loss.backward()
        return [out.asnumpy()] + [s.asnumpy() for s in new] + [xs.grad.asnumpy()]

    want = run(lambda xs: cell.unroll(T, xs, states, layout=layout, merge_outputs=True, valid_length=valid))
    block = DynamicUnroll(cell, layout)
    hybridize(block, backend)
    got = run(lambda xs: block(xs, states, valid))
    for a, b in zip(got, want):
        onp.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    padded = want[0] if layout == "TNC" else want[0].transpose(1, 0, 2)
    assert (padded[1:, 1] == 0).all() and (padded[3:, 2] == 0).all()
    if backend:
        assert block.ir().count("scan(") == 1


def conv_reference(mode, x, states, w, pad):
    """One convolutional step with torch.nn.functional (float64), gates split along channels."""
    F = torch.nn.functional
    conv = {3: F.conv1d, 4: F.conv2d}[x.ndim]
    xw = conv(x, w["i2h_weight"], w["i2h_bias"])
    hw = conv(states[0], w["h2h_weight"], w["h2h_bias"], padding=pad)
    if mode == "lstm":
        i, f, g, o = torch.chunk(xw + hw, 4, dim=1)
        c = torch.sigmoid(f) * states[1] + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), [c]
    xr, xz, xn = torch.chunk(xw, 3, dim=1)
    hr, hz, hn = torch.chunk(hw, 3, dim=1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    return (1 - z) * torch.tanh(xn + r * hn) + z * states[0], []


def _conv_cases():
    """Conv2DLSTMCell on every backend; Conv1DGRUCell eagerly and on interp, compiled under -m slow."""
    for cls, mode, spatial in ((rnn.Conv2DLSTMCell, "lstm", (6, 5)), (rnn.Conv1DGRUCell, "gru", (7,))):
        for backend in BACKENDS:
            slow = cls is rnn.Conv1DGRUCell and backend in ("llvm", "cuda")
            yield pytest.param(cls, mode, spatial, backend, id=f"{cls.__name__}-{backend}",
                               marks=pytest.mark.slow if slow else ())


@pytest.mark.parametrize("cls, mode, spatial, backend", list(_conv_cases()))
def test_conv_cells_match_torch(cls, mode, spatial, backend):
    cin, hidden = 2, 3
    cell = cls((-1,) + spatial, hidden, 3, 3)
    rng = onp.random.default_rng(9)
    x = rng.normal(size=(N, cin) + spatial)
    cell.infer_shape(0, np.array(x), False)
    cell.initialize(hb.init.Uniform(0.4))
    assert cell.i2h_weight.shape[1] == cin
    state_shapes = [s["shape"] for s in cell.state_info(N)]
    assert state_shapes[0] == (N, hidden) + tuple(d - 2 for d in spatial)
    states = [rng.normal(size=s) for s in state_shapes]
    hybridize(cell, backend)
    xs = np.array(x.astype("f4"))
    xs.attach_grad()
    with autograd.record():
        out, new = cell(xs, [np.array(s.astype("f4")) for s in states])
        loss = (out * out).sum() + sum((s * s).sum() for s in new[1:])
    loss.backward()
    w = {k: torch.tensor(p.data().asnumpy().astype("f8")) for k, p in cell.collect_params().items()}
    tx = torch.tensor(x, requires_grad=True)
    tout, rest = conv_reference(mode, tx, [torch.tensor(s) for s in states], w, 1)
    ((tout * tout).sum() + sum((s * s).sum() for s in rest)).backward()
    onp.testing.assert_allclose(out.asnumpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    for got, want in zip(new[1:], rest):
        onp.testing.assert_allclose(got.asnumpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(xs.grad.asnumpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv_cells_unroll_and_name_bad_arguments():
    cell = rnn.Conv1DLSTMCell((4, 9), 5, 3, 3, i2h_pad=1)
    cell.initialize()
    outputs, states = cell.unroll(3, np.ones((2, 3, 4, 9)), layout="NTC", merge_outputs=True)
    assert outputs.shape == (2, 3, 5, 9) and [s.shape for s in states] == [(2, 5, 9)] * 2
    with pytest.raises(hb.HybridError, match="h2h_kernel must be odd"):
        rnn.Conv2DGRUCell((3, 8, 8), 4, 3, 2)
    with pytest.raises(hb.HybridError, match="conv_layout must be one of"):
        rnn.Conv2DRNNCell((3, 8, 8), 4, 3, 3, conv_layout="NCW")
    with pytest.raises(hb.HybridError, match="i2h_kernel must be an int or 3 ints"):
        rnn.Conv3DRNNCell((3, 8, 8, 8), 4, (3, 3), 3)
