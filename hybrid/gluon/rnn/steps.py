"""One time step of each recurrent mode, written once from primitives; layers and cells share them.

Gate order (MXNet's, which is also PyTorch's): LSTM [input, forget, candidate, output]; GRU
[reset, update, new], with the new gate's hidden part scaled by the reset gate after its bias.
`xw` is the step's input projection x @ i2h_weight.T + i2h_bias (layers compute it for the
whole sequence at once, outside the loop)."""
from __future__ import annotations

from ...frontend import np, npx

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NUM_STATES = {"rnn": 1, "lstm": 2, "gru": 1}


def step(mode: str, xw, states: list, h2h_weight, h2h_bias, activation: str = "tanh",
         recurrent_activation: str = "sigmoid", h2r_weight=None) -> tuple:
    """(output, new states) of one step. `activation`: the plain RNN's, or the LSTM's candidate and
    cell output / the GRU's new gate (tanh by default); `recurrent_activation`: the gates' (sigmoid).
    `h2r_weight` (LSTM only): the projection of LSTMP (Sak et al. 2014); the step then emits and
    carries r = h @ h2r_weight.T (projection_size wide) in place of h, while c stays hidden_size wide."""
    hw = npx.fully_connected(states[0], h2h_weight, h2h_bias, flatten=False)
    h, new_states = gated(mode, xw, hw, states, activation, recurrent_activation)
    if h2r_weight is not None:
        h = npx.fully_connected(h, h2r_weight, no_bias=True, flatten=False)
        new_states = [h] + new_states[1:]
    return h, new_states


def gated(mode: str, xw, hw, states: list, activation: str = "tanh", recurrent_activation: str = "sigmoid",
          axis: int = -1) -> tuple:
    """The gate arithmetic of one step from the input's and the state's projections `xw` and `hw`
    (dense layers and cells: matmuls, gates along the last axis; convolutional cells: convolutions,
    gates along the channel `axis`)."""
    if mode == "lstm":
        i, f, g, o = (npx.activation(v, recurrent_activation if k != 2 else activation)
                      for k, v in enumerate(np.split(xw + hw, 4, axis=axis)))
        c = f * states[1] + i * g
        h = o * npx.activation(c, activation)
        return h, [h, c]
    if mode == "gru":
        xr, xz, xn = np.split(xw, 3, axis=axis)
        hr, hz, hn = np.split(hw, 3, axis=axis)
        r, z = npx.activation(xr + hr, recurrent_activation), npx.activation(xz + hz, recurrent_activation)
        n = npx.activation(xn + r * hn, activation)
        h = (1.0 - z) * n + z * states[0]
        return h, [h]
    h = npx.activation(xw + hw, activation)
    return h, [h]
