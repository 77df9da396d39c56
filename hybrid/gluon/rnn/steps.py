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


def step(mode: str, xw, states: list, h2h_weight, h2h_bias, activation: str = "tanh",
         recurrent_activation: str = "sigmoid") -> tuple:
    """(output, new states) of one step. `activation`: the plain RNN's, or the LSTM's candidate and
    cell output / the GRU's new gate (tanh by default); `recurrent_activation`: the gates' (sigmoid)."""
    h = states[0]
    hw = npx.fully_connected(h, h2h_weight, h2h_bias, flatten=False)
    if mode == "lstm":
        i, f, g, o = (npx.activation(v, recurrent_activation if k != 2 else activation)
                      for k, v in enumerate(_split(xw + hw, 4)))
        c = f * states[1] + i * g
        h = o * npx.activation(c, activation)
        return h, [h, c]
    if mode == "gru":
        xr, xz, xn = _split(xw, 3)
        hr, hz, hn = _split(hw, 3)
        r, z = npx.activation(xr + hr, recurrent_activation), npx.activation(xz + hz, recurrent_activation)
        n = npx.activation(xn + r * hn, activation)
        h = (1.0 - z) * n + z * h
        return h, [h]
    h = npx.activation(xw + hw, activation)
    return h, [h]
