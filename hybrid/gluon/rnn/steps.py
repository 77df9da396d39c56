"""One time step of each recurrent mode, written once from primitives; layers and cells share them.

Gate order (MXNet's, which is also PyTorch's): LSTM [input, forget, candidate, output]; GRU
[reset, update, new], with the new gate's hidden part scaled by the reset gate after its bias.
`xw` is the step's input projection x @ i2h_weight.T + i2h_bias (layers compute it for the
whole sequence at once, outside the loop)."""
from __future__ import annotations

from ...frontend import np, npx

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NUM_STATES = {"rnn": 1, "lstm": 2, "gru": 1}


def _split(z, parts: int) -> list:
    return np.split(z, parts, axis=-1)


def step(mode: str, xw, states: list, h2h_weight, h2h_bias, activation: str = "tanh") -> tuple:
    """(output, new states) of one step (`activation`: the plain RNN's)."""
    h = states[0]
    hw = npx.fully_connected(h, h2h_weight, h2h_bias, flatten=False)
    if mode == "lstm":
        i, f, g, o = _split(xw + hw, 4)
        c = npx.sigmoid(f) * states[1] + npx.sigmoid(i) * np.tanh(g)
        h = npx.sigmoid(o) * np.tanh(c)
        return h, [h, c]
    if mode == "gru":
        xr, xz, xn = _split(xw, 3)
        hr, hz, hn = _split(hw, 3)
        r, z = npx.sigmoid(xr + hr), npx.sigmoid(xz + hz)
        n = np.tanh(xn + r * hn)
        h = (1.0 - z) * n + z * h
        return h, [h]
    h = npx.activation(xw + hw, activation)
    return h, [h]
