"""Recurrent ONNX ops (RNN, GRU, LSTM), unrolled over the (static) sequence length into matmuls and
elementwise gate math; `sequence_lens` masks the steps past each sequence's end."""
from __future__ import annotations

from ...frontend import np, npx
from ...core.promote import cast
from .base import OnnxNode, converts


def _activation(name: str, alpha, beta):
    table = {
        "Sigmoid": npx.sigmoid, "Tanh": np.tanh, "Relu": npx.relu, "Softsign": lambda x: x / (np.abs(x) + 1.0),
        "Softplus": npx.softplus,
        "HardSigmoid": lambda x: np.clip(x * (0.2 if alpha is None else alpha) + (0.5 if beta is None else beta), 0.0, 1.0),
        "Affine": lambda x: x * alpha + beta,
        "LeakyRelu": lambda x: np.where(x < 0, x * (0.01 if alpha is None else alpha), x),
        "ThresholdedRelu": lambda x: np.where(x > (1.0 if alpha is None else alpha), x, 0.0),
        "ScaledTanh": lambda x: np.tanh(x * beta) * alpha,
        "Elu": lambda x: np.where(x < 0, (np.exp(np.minimum(x, 0.0)) - 1.0) * (1.0 if alpha is None else alpha), x),
    }
    return table[name]


def _activations(node: OnnxNode, defaults: list[str], directions: int) -> list[list]:
    names = node.attr("activations", defaults * directions)
    alphas = list(node.attr("activation_alpha", []))
    betas = list(node.attr("activation_beta", []))
    fns = []
    for i, name in enumerate(names):
        fns.append(_activation(name, alphas[i] if i < len(alphas) else None, betas[i] if i < len(betas) else None))
    per = len(defaults)
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


def _run(node: OnnxNode, cell, gates: int, defaults: list[str], with_cell: bool):
    x, w, r = node.input(0), node.input(1), node.input(2)
    layout = node.attr("layout", 0)
    if layout:
        x = np.swapaxes(x, 0, 1)   # (batch, seq, in) -> (seq, batch, in)
    seq, batch = x.shape[0], x.shape[1]
    hidden = node.attr("hidden_size", r.shape[-1])
    direction = node.attr("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    bias = node.optional(3)
    lens = node.optional(4)
    h0, c0 = node.optional(5), node.optional(6) if with_cell else None
    peep = node.optional(7) if with_cell else None
    acts = _activations(node, defaults, directions)
    clip = node.attr("clip", None)
    zeros = np.zeros((batch, hidden), x.dtype)
    ys, hs, cs = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        if reverse and lens is not None:
            full = node.const(4)
            if not (full == seq).all():
                raise node.fail("reverse direction with sequences of different lengths is not supported")
        wb = bias[d, :gates * hidden] if bias is not None else None
        rb = bias[d, gates * hidden:] if bias is not None else None
        # the input projection of every step at once: one matmul
        xw = np.matmul(x, np.transpose(w[d]))
        if wb is not None:
            xw = xw + wb
        h = h0[d] if h0 is not None else zeros
        c = c0[d] if c0 is not None else zeros
        outputs = [None] * seq
        for step in range(seq):
            t = seq - 1 - step if reverse else step
            new_h, new_c = cell(node, xw[t], h, c, r[d], rb, acts[d], clip, hidden, peep[d] if peep is not None else None)
            if lens is not None:
                alive = np.expand_dims(cast(lens, "i64") > t, -1)
                new_h = np.where(alive, new_h, h)
                new_c = np.where(alive, new_c, c) if with_cell else new_c
                outputs[t] = np.where(alive, new_h, np.zeros((), x.dtype))
            else:
                outputs[t] = new_h
            h, c = new_h, new_c
        ys.append(np.stack(outputs, 0))
        hs.append(h)
        cs.append(c)
    y = np.stack(ys, 1)   # (seq, dirs, batch, hidden)
    y_h, y_c = np.stack(hs, 0), np.stack(cs, 0)
    if layout:
        y = np.transpose(y, (2, 0, 1, 3))
        y_h, y_c = np.swapaxes(y_h, 0, 1), np.swapaxes(y_c, 0, 1)
    outs = [y, y_h] + ([y_c] if with_cell else [])
    return tuple(outs[:node.num_outputs])


def _clip(v, clip):
    return v if clip is None else np.clip(v, -clip, clip)


def _rnn_cell(node, xw, h, c, r, rb, acts, clip, hidden, peep):
    pre = xw + np.matmul(h, np.transpose(r))
    if rb is not None:
        pre = pre + rb
    return acts[0](_clip(pre, clip)), c


def _gru_cell(node, xw, h, c, r, rb, acts, clip, hidden, peep):
    f, g = acts
    rz, rr, rh = r[:hidden], r[hidden:2 * hidden], r[2 * hidden:]
    xz, xr, xh = xw[:, :hidden], xw[:, hidden:2 * hidden], xw[:, 2 * hidden:]
    bz = rb[:hidden] if rb is not None else 0.0
    br = rb[hidden:2 * hidden] if rb is not None else 0.0
    bh = rb[2 * hidden:] if rb is not None else 0.0
    z = f(_clip(xz + np.matmul(h, np.transpose(rz)) + bz, clip))
    reset = f(_clip(xr + np.matmul(h, np.transpose(rr)) + br, clip))
    if node.attr("linear_before_reset", 0):
        cand = g(_clip(xh + reset * (np.matmul(h, np.transpose(rh)) + bh), clip))
    else:
        cand = g(_clip(xh + np.matmul(reset * h, np.transpose(rh)) + bh, clip))
    return (1.0 - z) * cand + z * h, c


def _lstm_cell(node, xw, h, c, r, rb, acts, clip, hidden, peep):
    f, g, out_act = acts
    pre = xw + np.matmul(h, np.transpose(r))
    if rb is not None:
        pre = pre + rb
    i, o, fg, cand = (pre[:, k * hidden:(k + 1) * hidden] for k in range(4))
    if peep is not None:
        i = i + peep[:hidden] * c
        fg = fg + peep[2 * hidden:] * c
    i, fg = f(_clip(i, clip)), f(_clip(fg, clip))
    if node.attr("input_forget", 0):
        fg = 1.0 - i
    new_c = fg * c + i * g(_clip(cand, clip))
    if peep is not None:
        o = o + peep[hidden:2 * hidden] * new_c
    o = f(_clip(o, clip))
    return o * out_act(new_c), new_c


converts("RNN")(lambda node: _run(node, _rnn_cell, 1, ["Tanh"], False))
converts("GRU")(lambda node: _run(node, _gru_cell, 3, ["Sigmoid", "Tanh"], False))
converts("LSTM")(lambda node: _run(node, _lstm_cell, 4, ["Sigmoid", "Tanh", "Tanh"], True))
