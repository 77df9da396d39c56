"""Multi-layer recurrent layers with MXNet Gluon's interface: RNN, LSTM, GRU.

As in MXNet 2, a layer holds one parameter, `rnn_param`: every weight and bias in one vector, in
MXNet's storage order and gate order (`gluon.utils.split_rnn_params` names its pieces
`l0_i2h_weight`, `l0_h2h_bias`, `r0_...` for the reverse direction), so MXNet 2 parameter files
load. Each layer and direction projects the whole input sequence with one matmul and runs the
recurrence as one scan, so a hybridized layer's graph does not grow with the sequence length."""
from __future__ import annotations

import math

import numpy

from ...core.array import Array
from ...errors import HybridError
from ...frontend import init as initializers, np, npx
from ...frontend.block import HybridBlock
from ...frontend.parameter import Parameter
from ..utils import _rnn_param_layout, join_rnn_params, split_rnn_params
from . import sequence
from .steps import GATES, NUM_STATES, step


class FusedRNNInit(initializers.Initializer):
    """Initializes `rnn_param` piece by piece: each weight and bias with its own initializer
    (i2h_weight_initializer, ...), on the piece's shape. A piece without one takes the global initializer
    passed to `initialize()` (MXNet's RNNFused.set_initializer), else Gluon's default Uniform."""

    def __init__(self, layer: "_RNNLayer", piece_inits: dict, global_init=None):
        self.layer, self.piece_inits, self.global_init = layer, piece_inits, global_init

    def given_global(self, init) -> "FusedRNNInit":
        return FusedRNNInit(self.layer, self.piece_inits, init)

    def _default_for(self, piece: str) -> initializers.Initializer:
        chosen = initializers.create(self.global_init if self.global_init is not None else initializers.Uniform())
        return chosen.for_name(piece) if isinstance(chosen, initializers.Mixed) else chosen

    def __call__(self, shape, dtype):
        pieces = self.layer._pieces(self.layer._input_size_of(shape[0]))
        parts = []
        for name, piece_shape in pieces:
            chosen = self.piece_inits[name.split("_", 1)[1]]
            init = initializers.create(chosen) if chosen is not None else self._default_for(name)
            parts.append(init.for_parameter(name, piece_shape, dtype).ravel())
        return numpy.concatenate(parts).astype(dtype)


class _RNNLayer(HybridBlock):
    def __init__(self, hidden_size: int, num_layers: int, layout: str, dropout: float, bidirectional: bool,
                 input_size: int, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                 h2h_bias_initializer, mode: str, activation: str = "tanh", use_sequence_length: bool = False,
                 dtype="float32", projection_size=None, h2r_weight_initializer=None):
        super().__init__()
        if layout not in ("TNC", "NTC"):
            raise HybridError(f"{type(self).__name__}: layout must be 'TNC' or 'NTC', got {layout!r}")
        if num_layers < 1 or hidden_size < 1:
            raise HybridError(f"{type(self).__name__}: hidden_size and num_layers must be positive")
        self._hidden_size, self._num_layers, self._layout = hidden_size, num_layers, layout
        self._dropout, self._dir, self._mode, self._activation = dropout, 2 if bidirectional else 1, mode, activation
        self._use_sequence_length, self._dtype = use_sequence_length, dtype
        if projection_size is not None and not 0 < projection_size:
            raise HybridError(f"{type(self).__name__}: projection_size must be a positive int or None, got "
                              f"{projection_size!r}")
        self._projection_size = projection_size or None
        init = FusedRNNInit(self, {"i2h_weight": i2h_weight_initializer, "h2h_weight": h2h_weight_initializer,
                                   "i2h_bias": i2h_bias_initializer, "h2h_bias": h2h_bias_initializer,
                                   "h2r_weight": h2r_weight_initializer})
        size = self._param_size(input_size) if input_size else 0
        self.rnn_param = Parameter("rnn_param", (size,), dtype, init)

    @property
    def _fused_mode(self) -> str:
        """The mode name of MXNet's fused layout ('rnn_relu', 'rnn_tanh', 'lstm', 'gru')."""
        return f"rnn_{self._activation}" if self._mode == "rnn" else self._mode

    def _pieces(self, input_size: int) -> list:
        return _rnn_param_layout(self._fused_mode, self._num_layers, input_size, self._hidden_size, self._dir == 2,
                                 self._projection_size)

    def _param_size(self, input_size: int) -> int:
        return sum(math.prod(shape) for _, shape in self._pieces(input_size))

    def _input_size_of(self, size: int) -> int:
        """The input width a fused vector of `size` entries implies (the size is linear in it)."""
        per_feature = self._dir * GATES[self._mode] * self._hidden_size
        return (size - self._param_size(0)) // per_feature

    def _translate_own_saved_names(self, loaded: dict, prefix: str) -> dict:
        """Files from MXNet 1.x layers (and hybrid's before the fused layout) hold one entry per
        layer, direction and kind (`l0_i2h_weight`, ...): join them into `rnn_param`."""
        first = f"{prefix}l0_i2h_weight"
        if f"{prefix}rnn_param" in loaded or first not in loaded:
            return loaded
        names = [name for name, _ in self._pieces(0)]
        pieces = {name: loaded[prefix + name] for name in names if prefix + name in loaded}
        input_size = numpy.shape(loaded[first])[1]
        joined = join_rnn_params(pieces, self._fused_mode, self._num_layers, input_size, self._hidden_size,
                                 self._dir == 2, self._projection_size)
        rest = {k: v for k, v in loaded.items() if not (k.startswith(prefix) and k[len(prefix):] in pieces)}
        rest[f"{prefix}rnn_param"] = joined
        return rest

    def infer_shape(self, inputs, *args) -> None:
        """Fix rnn_param's size from the inputs' feature width (MXNet's deferred shape inference)."""
        self.rnn_param._infer_shape((self._param_size(inputs.shape[2]),))

    def state_info(self, batch_size: int = 0) -> list[dict]:
        """h (projection_size wide under a projection), then the LSTM's c (hidden_size wide)."""
        widths = [self._projection_size or self._hidden_size, self._hidden_size][:NUM_STATES[self._mode]]
        return [{"shape": (self._num_layers * self._dir, batch_size, w), "__layout__": "LNC", "dtype": self._dtype}
                for w in widths]

    def begin_state(self, batch_size: int = 0, func=np.zeros, **kwargs) -> list:
        """The initial states: `func(shape, **kwargs)` per state (zeros by default)."""
        kwargs.setdefault("dtype", self._dtype)
        return [func(info["shape"], **kwargs) for info in self.state_info(batch_size)]

    def forward(self, inputs, states=None, sequence_length=None):
        """inputs: (T, N, C) for layout TNC, (N, T, C) for NTC. Returns the outputs, and the final
        states too when `states` are given (MXNet's rule)."""
        name = type(self).__name__
        if inputs.ndim != 3:
            raise HybridError(f"{name}: inputs must be 3-d ({self._layout}), got shape {inputs.shape}")
        if (sequence_length is not None) != self._use_sequence_length:
            raise HybridError(f"{name}: pass sequence_length exactly when the layer was built with "
                              f"use_sequence_length=True (it is {self._use_sequence_length})")
        x = np.swapaxes(inputs, 0, 1) if self._layout == "NTC" else inputs
        batch = x.shape[1]
        skip_states = states is None
        if skip_states:   # zeros of the dtype the recurrence computes in (MXNet: the inputs' dtype)
            states = self.begin_state(batch, dtype=numpy.result_type(x.dtype, numpy.dtype(self.rnn_param.dtype)))
        if isinstance(states, Array):
            states = [states]
        want = self.state_info(batch)
        if len(states) != len(want) or any(tuple(s.shape) != w["shape"] for s, w in zip(states, want)):
            raise HybridError(f"{name}: states must be {len(want)} arrays of shapes {[w['shape'] for w in want]}, got "
                              f"{[tuple(s.shape) for s in states]}")
        if not self.rnn_param.is_initialized:
            self.rnn_param._finish_deferred_init((self._param_size(x.shape[2]),))
        elif self._input_size_of(self.rnn_param.shape[0]) != x.shape[2]:
            raise HybridError(f"{name}: inputs have {x.shape[2]} features, but rnn_param was made for "
                              f"{self._input_size_of(self.rnn_param.shape[0])}")
        out, new_states = self._layers(x, list(states), sequence_length)
        if self._layout == "NTC":
            out = np.swapaxes(out, 0, 1)
        return out if skip_states else (out, new_states)

    def _layers(self, x, states: list, sequence_length):
        finals = []
        pieces = split_rnn_params(self.rnn_param.data(), self._fused_mode, self._num_layers, x.shape[2],
                                  self._hidden_size, self._dir == 2, self._projection_size)
        for i in range(self._num_layers):
            outs = []
            for k, d in enumerate("lr"[:self._dir]):
                slot = i * self._dir + k
                p = {kind: pieces[f"{d}{i}_{kind}"] for kind in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")}
                xw = npx.fully_connected(x, p["i2h_weight"], p["i2h_bias"], flatten=False)

                def cell(xw_t, s, p=p, h2r=pieces.get(f"{d}{i}_h2r_weight")):
                    return step(self._mode, xw_t, s, p["h2h_weight"], p["h2h_bias"], self._activation, h2r_weight=h2r)
                ys, final = sequence.run(cell, xw, [s[slot] for s in states], sequence_length, reverse=k == 1)
                outs.append(ys)
                finals.append(final)
            x = outs[0] if self._dir == 1 else np.concatenate(outs, axis=2)
            if self._dropout and i < self._num_layers - 1:
                x = npx.dropout(x, self._dropout)
        new_states = [np.stack([f[j] for f in finals]) for j in range(len(states))]
        return x, new_states

    def _extra_repr(self) -> str:
        return (f"{self._hidden_size}, {self._layout}, num_layers={self._num_layers}"
                + (", bidirectional" if self._dir == 2 else "") + (f", dropout={self._dropout}" if self._dropout else ""))


class RNN(_RNNLayer):
    """Elman RNN: h_t = activation(x_t W_i^T + b_i + h_{t-1} W_h^T + b_h), activation relu or tanh."""

    def __init__(self, hidden_size: int, num_layers: int = 1, activation: str = "relu", layout: str = "TNC",
                 dropout: float = 0, bidirectional: bool = False, i2h_weight_initializer=None,
                 h2h_weight_initializer=None, i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 input_size: int = 0, use_sequence_length: bool = False, dtype="float32"):
        if activation not in ("relu", "tanh"):
            raise HybridError(f"RNN: activation must be 'relu' or 'tanh', got {activation!r}")
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size, i2h_weight_initializer,
                         h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer, "rnn", activation,
                         use_sequence_length, dtype)


class LSTM(_RNNLayer):
    """Long short-term memory; states [h, c], gates [input, forget, candidate, output]. With
    `projection_size` (LSTMP, as MXNet 2), each layer and direction also holds h2r_weight
    (projection_size, hidden_size) and emits and carries r = h @ h2r_weight.T: outputs and the h
    state are projection_size wide, the c state hidden_size wide."""

    def __init__(self, hidden_size: int, num_layers: int = 1, layout: str = "TNC", dropout: float = 0,
                 bidirectional: bool = False, input_size: int = 0, i2h_weight_initializer=None,
                 h2h_weight_initializer=None, i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 projection_size=None, h2r_weight_initializer=None, use_sequence_length: bool = False,
                 dtype="float32"):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size, i2h_weight_initializer,
                         h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer, "lstm",
                         use_sequence_length=use_sequence_length, dtype=dtype, projection_size=projection_size,
                         h2r_weight_initializer=h2r_weight_initializer)


class GRU(_RNNLayer):
    """Gated recurrent unit; gates [reset, update, new]."""

    def __init__(self, hidden_size: int, num_layers: int = 1, layout: str = "TNC", dropout: float = 0,
                 bidirectional: bool = False, input_size: int = 0, i2h_weight_initializer=None,
                 h2h_weight_initializer=None, i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 use_sequence_length: bool = False, dtype="float32"):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size, i2h_weight_initializer,
                         h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer, "gru",
                         use_sequence_length=use_sequence_length, dtype=dtype)
