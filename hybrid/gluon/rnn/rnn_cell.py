"""Recurrent cells with MXNet Gluon's interface: one step `cell(x_t, states) -> (output, states)`,
and `unroll` over a sequence (one scan; cells that draw random numbers per step, Dropout and
Zoneout while training, unroll step by step instead, since every scan step would draw alike)."""
from __future__ import annotations

from typing import Optional

from ...core.array import Array
from ...core.autograd import is_training
from ...core.tracing import current_trace
from ...errors import HybridError
from ...frontend import np, npx
from ...frontend.block import Block, HybridBlock
from ...frontend.parameter import Parameter
from . import sequence
from .steps import GATES, step


class RecurrentCell(Block):
    """The base of cells: `state_info`, `begin_state`, `unroll`; subclasses define forward(x, states)."""

    _infer_shape_from_inputs = False   # a cell's infer_shape(i, x, is_bidirect) is MXNet's stack protocol

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return []

    def begin_state(self, batch_size: int = 0, func=np.zeros, **kwargs) -> list:
        kwargs.setdefault("dtype", "float32")
        return [func(info["shape"], **kwargs) for info in self.state_info(batch_size)]

    def reset(self) -> None:
        """Forget per-sequence memory (ZoneoutCell's previous output) before a new sequence."""
        for child in self._child_blocks():
            if isinstance(child, RecurrentCell):
                child.reset()

    def _draws_per_step(self) -> bool:
        return any(isinstance(c, RecurrentCell) and c._draws_per_step() for c in self._child_blocks())

    def infer_shape(self, i: int, x, is_bidirect: bool) -> None:
        """MXNet 2's shape inference for cell `i` of a stack: the first cell reads x's features, a later
        one its predecessor's outputs (twice the hidden size after a bidirectional layer). Containers
        and modifier cells pass it on to the cells they hold."""
        for child in self._child_blocks():
            child.infer_shape(i, x, is_bidirect)

    def unroll(self, length: int, inputs, begin_state=None, layout: str = "NTC", merge_outputs: Optional[bool] = None,
               valid_length=None):
        """Run the cell over `length` steps of `inputs` (an array in `layout`, or a list of (N, C)
        steps). Returns (outputs, final states): outputs merged into one array in `layout` when
        merge_outputs is True (default: when inputs is an array), else a list of steps. With
        valid_length, outputs past each sequence's length are zero and its states are those of
        its last valid step."""
        self.reset()
        axis = layout.find("T")
        listed = not isinstance(inputs, Array)
        if listed:
            inputs = np.stack(list(inputs), axis=axis)
        if inputs.shape[axis] != length:
            raise HybridError(f"{type(self).__name__}.unroll: length is {length} but inputs have "
                              f"{inputs.shape[axis]} steps along axis {axis} (layout {layout})")
        xs = np.moveaxis(inputs, axis, 0)
        states = list(begin_state) if begin_state is not None else self.begin_state(xs.shape[1], dtype=xs.dtype)
        ys, states = self._unroll_time_major(xs, states, valid_length)
        if merge_outputs is None:
            merge_outputs = not listed
        outputs = np.moveaxis(ys, 0, axis)
        if not merge_outputs:
            outputs = [ys[t] for t in range(length)]
        return outputs, states

    def _unroll_time_major(self, xs, states: list, valid_length):
        return self._loop(lambda x, s: self(x, s), xs, states, valid_length)

    def _loop(self, step_fn, xs, states: list, valid_length):
        """`step_fn(x_t, states)` (a step of this cell) over time-major xs: one scan, or step by step
        while this cell draws random numbers per step."""
        if self._draws_per_step() and is_training():
            return self._unroll_steps(step_fn, xs, states, valid_length)
        return sequence.run(step_fn, xs, states, valid_length)

    @staticmethod
    def _unroll_steps(step_fn, xs, states: list, valid_length):
        outs = []
        for t in range(xs.shape[0]):
            out, new = step_fn(xs[t], states)
            if valid_length is not None:
                keep = (t < valid_length).reshape((-1,) + (1,) * (out.ndim - 1))
                new = [np.where(keep, a, b) for a, b in zip(new, states)]
                out = np.where(keep, out, 0.0)
            outs.append(out)
            states = list(new)
        return np.stack(outs), states


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A cell whose step is hybridizable."""


class _GatedCell(HybridRecurrentCell):
    def __init__(self, mode: str, hidden_size: int, input_size: int, i2h_weight_initializer, h2h_weight_initializer,
                 i2h_bias_initializer, h2h_bias_initializer, activation: str = "tanh", dtype="float32",
                 recurrent_activation: str = "sigmoid", state_size: int = 0):
        super().__init__()
        self._mode, self._hidden_size, self._activation = mode, hidden_size, activation
        self._recurrent_activation = recurrent_activation
        self._state_size = state_size or hidden_size   # the carried (and emitted) h: projection_size for LSTMP
        gates = GATES[mode] * hidden_size
        self.i2h_weight = Parameter("i2h_weight", (gates, input_size), dtype, i2h_weight_initializer)
        self.h2h_weight = Parameter("h2h_weight", (gates, self._state_size), dtype, h2h_weight_initializer)
        self.i2h_bias = Parameter("i2h_bias", (gates,), dtype, i2h_bias_initializer)
        self.h2h_bias = Parameter("h2h_bias", (gates,), dtype, h2h_bias_initializer)

    def infer_shape(self, i: int, x, is_bidirect: bool) -> None:
        width = x.shape[-1] if i == 0 else self._state_size * (2 if is_bidirect else 1)
        self.i2h_weight._infer_shape((self.i2h_weight.shape[0], width))

    def state_info(self, batch_size: int = 0) -> list[dict]:
        widths = [self._state_size, self._hidden_size][:2 if self._mode == "lstm" else 1]
        return [{"shape": (batch_size, w), "__layout__": "NC"} for w in widths]

    def _h2r_weight(self):
        return None

    def forward(self, inputs, states):
        if isinstance(states, Array):
            states = [states]
        if not self.i2h_weight.is_initialized:
            self.i2h_weight._finish_deferred_init((self.i2h_weight.shape[0], inputs.shape[-1]))
        xw = npx.fully_connected(inputs, self.i2h_weight.data(), self.i2h_bias.data(), flatten=False)
        return step(self._mode, xw, list(states), self.h2h_weight.data(), self.h2h_bias.data(), self._activation,
                    self._recurrent_activation, self._h2r_weight())


class RNNCell(_GatedCell):
    """h' = activation(x W_i^T + b_i + h W_h^T + b_h)."""

    def __init__(self, hidden_size: int, activation: str = "tanh", i2h_weight_initializer=None,
                 h2h_weight_initializer=None, i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 input_size: int = 0, dtype="float32"):
        super().__init__("rnn", hidden_size, input_size, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, activation, dtype)


class LSTMCell(_GatedCell):
    """LSTM step; states [h, c]; gates [input, forget, candidate, output]; `activation` (tanh) for the
    candidate and the cell output, `recurrent_activation` (sigmoid) for the gates, as MXNet 2."""

    def __init__(self, hidden_size: int, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size: int = 0, dtype="float32",
                 activation: str = "tanh", recurrent_activation: str = "sigmoid"):
        super().__init__("lstm", hidden_size, input_size, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, activation, dtype, recurrent_activation)


class LSTMPCell(_GatedCell):
    """LSTM step with a projection (LSTMP, Sak et al. 2014, as MXNet 2): states [r, c] with r
    (batch, projection_size) and c (batch, hidden_size); the gates read r through h2h_weight
    (4*hidden_size, projection_size), and the step emits r' = (o * tanh(c')) @ h2r_weight.T."""

    def __init__(self, hidden_size: int, projection_size: int, i2h_weight_initializer=None,
                 h2h_weight_initializer=None, h2r_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", input_size: int = 0, dtype="float32", activation: str = "tanh",
                 recurrent_activation: str = "sigmoid"):
        if not isinstance(projection_size, int) or projection_size < 1:
            raise HybridError(f"LSTMPCell: projection_size must be a positive int, got {projection_size!r}")
        super().__init__("lstm", hidden_size, input_size, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, activation, dtype, recurrent_activation,
                         state_size=projection_size)
        self.h2r_weight = Parameter("h2r_weight", (projection_size, hidden_size), dtype, h2r_weight_initializer)

    def _h2r_weight(self):
        return self.h2r_weight.data()


class GRUCell(_GatedCell):
    """GRU step; gates [reset, update, new]; `activation` (tanh) for the new gate,
    `recurrent_activation` (sigmoid) for reset and update, as MXNet 2."""

    def __init__(self, hidden_size: int, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size: int = 0, dtype="float32",
                 activation: str = "tanh", recurrent_activation: str = "sigmoid"):
        super().__init__("gru", hidden_size, input_size, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, activation, dtype, recurrent_activation)


class SequentialRNNCell(RecurrentCell):
    """Cells stacked: each step runs them in order, the output of one the input of the next."""

    def add(self, cell: RecurrentCell) -> "SequentialRNNCell":
        self.register_child(cell)
        return self

    def __len__(self) -> int:
        return len(self._children)

    def __getitem__(self, i):
        return self._child_blocks()[i]

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [info for cell in self._child_blocks() for info in cell.state_info(batch_size)]

    def infer_shape(self, i: int, x, is_bidirect: bool) -> None:
        for k, cell in enumerate(self._child_blocks()):   # cell k of the stack
            cell.infer_shape(k, x, is_bidirect)

    def forward(self, inputs, states):
        return self._each_cell(inputs, states, lambda cell, x, s: cell(x, s))

    def _unroll_time_major(self, xs, states: list, valid_length):
        """Layer by layer, as MXNet unrolls a stack: each cell runs over the whole sequence before the
        next one starts, so a BidirectionalCell can sit in the stack."""
        return self._each_cell(xs, states, lambda cell, x, s: cell._unroll_time_major(x, s, valid_length))

    def _each_cell(self, inputs, states, run):
        new_states, k = [], 0
        for cell in self._child_blocks():
            n = len(cell.state_info())
            inputs, state = run(cell, inputs, list(states[k:k + n]))
            new_states += list(state)
            k += n
        return inputs, new_states


class HybridSequentialRNNCell(SequentialRNNCell, HybridRecurrentCell):
    """SequentialRNNCell of hybridizable cells."""


class BidirectionalCell(HybridRecurrentCell):
    """Runs l_cell forwards and r_cell backwards over the sequence; outputs concatenated on the
    feature axis, states [l_cell's..., r_cell's...]. Only `unroll` (a step needs the future)."""

    def __init__(self, l_cell: RecurrentCell, r_cell: RecurrentCell):
        super().__init__()
        self.l_cell, self.r_cell = l_cell, r_cell

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return self.l_cell.state_info(batch_size) + self.r_cell.state_info(batch_size)

    def infer_shape(self, i: int, x, is_bidirect: bool) -> None:
        self.l_cell.infer_shape(i, x, True)
        self.r_cell.infer_shape(i, x, True)

    def forward(self, inputs, states):
        raise HybridError("BidirectionalCell cannot be stepped (its backward half needs the future); call "
                          "unroll(length, inputs, ...) instead")

    def _unroll_time_major(self, xs, states: list, valid_length):
        n = len(self.l_cell.state_info())
        l_out, l_states = self.l_cell._unroll_time_major(xs, states[:n], valid_length)
        if valid_length is None:
            r_out, r_states = self.r_cell._unroll_time_major(np.flip(xs, axis=0), states[n:], None)
            r_out = np.flip(r_out, axis=0)
        else:
            index = sequence.reverse_index(xs.shape[0], valid_length)
            r_out, r_states = self.r_cell._unroll_time_major(sequence.gather_time(xs, index), states[n:], valid_length)
            r_out = sequence.gather_time(r_out, index)
        return np.concatenate([l_out, r_out], axis=-1), list(l_states) + list(r_states)


class DropoutCell(HybridRecurrentCell):
    """Dropout on the step's input (training mode only); no state."""

    def __init__(self, rate: float, axes: tuple = ()):
        super().__init__()
        self.rate, self.axes = rate, tuple(axes)

    def _draws_per_step(self) -> bool:
        return self.rate > 0

    def forward(self, inputs, states):
        if self.axes:   # one mask shared along `axes`
            mask_shape = tuple(1 if a in self.axes else d for a, d in enumerate(inputs.shape))
            return inputs * npx.dropout(np.ones(mask_shape, dtype=inputs.dtype), self.rate), states
        return npx.dropout(inputs, self.rate), states


class ModifierCell(HybridRecurrentCell):
    """Wraps a base cell and changes what its step does."""

    def __init__(self, base_cell: RecurrentCell):
        super().__init__()
        self.base_cell = base_cell

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return self.base_cell.state_info(batch_size)


class VariationalDropoutCell(ModifierCell):
    """Variational dropout (Gal and Ghahramani 2016, as MXNet 2): while training, one dropout mask per
    sequence, the same at every step, on the step's inputs (rate drop_inputs), on the first state
    the base cell receives (drop_states) and on its outputs (drop_outputs). `unroll` draws the masks
    once per call, in every mode; stepping the cell yourself keeps the masks of the first step until
    `reset()` (eagerly; a hybridized step draws new masks each call, since a compiled step keeps no
    arrays between calls)."""

    def __init__(self, base_cell: RecurrentCell, drop_inputs: float = 0.0, drop_states: float = 0.0,
                 drop_outputs: float = 0.0):
        for name, rate in (("drop_inputs", drop_inputs), ("drop_states", drop_states), ("drop_outputs", drop_outputs)):
            if not 0 <= rate < 1:
                raise HybridError(f"VariationalDropoutCell: {name} must be in [0, 1), got {rate}")
        if drop_states and isinstance(base_cell, BidirectionalCell):
            raise HybridError("VariationalDropoutCell: drop_states needs a base cell that can be stepped; a "
                              "BidirectionalCell cannot (wrap its l_cell and r_cell instead)")
        super().__init__(base_cell)
        self.drop_inputs, self.drop_states, self.drop_outputs = drop_inputs, drop_states, drop_outputs
        self._masks: dict = {}

    def reset(self) -> None:
        super().reset()
        self._masks = {}

    def _mask(self, kind: str, like):
        """The sequence's mask for `kind` (a fresh one when none is kept): ones scaled by 1/(1-p)
        with zeros at rate p; all ones outside training."""
        mask = self._masks.get(kind)
        if mask is None:
            mask = npx.dropout(np.ones(like.shape, dtype=like.dtype), getattr(self, kind))
            if current_trace() is None and is_training():   # a traced mask must not outlive its trace
                self._masks[kind] = mask
        return mask

    def forward(self, inputs, states):
        states = [states] if isinstance(states, Array) else list(states)
        if self.drop_inputs:
            inputs = inputs * self._mask("drop_inputs", inputs)
        if self.drop_states:
            states[0] = states[0] * self._mask("drop_states", states[0])
        out, new_states = self.base_cell(inputs, states)
        if self.drop_outputs:
            out = out * self._mask("drop_outputs", out)
        return out, new_states

    def _unroll_time_major(self, xs, states: list, valid_length):
        """The input and output masks cover the whole sequence at once (shared along time); the state
        mask is drawn here and applied inside each step of the base cell."""
        if self.drop_inputs:
            xs = npx.dropout(xs, self.drop_inputs, axes=(0,))
        if self.drop_states:
            mask = npx.dropout(np.ones(states[0].shape, dtype=states[0].dtype), self.drop_states)
            ys, states = self.base_cell._loop(lambda x, s: self.base_cell(x, [s[0] * mask] + list(s[1:])), xs,
                                             states, valid_length)
        else:
            ys, states = self.base_cell._unroll_time_major(xs, states, valid_length)
        if self.drop_outputs:
            ys = npx.dropout(ys, self.drop_outputs, axes=(0,))
        return ys, states


class ResidualCell(ModifierCell):
    """output = base_cell(x) + x."""

    def forward(self, inputs, states):
        out, states = self.base_cell(inputs, states)
        return out + inputs, states


class ZoneoutCell(ModifierCell):
    """Zoneout (Krueger et al.): while training, each output and state element keeps its previous
    value with probability zoneout_outputs / zoneout_states."""

    def __init__(self, base_cell: RecurrentCell, zoneout_outputs: float = 0.0, zoneout_states: float = 0.0):
        super().__init__(base_cell)
        self.zoneout_outputs, self.zoneout_states = zoneout_outputs, zoneout_states
        self._prev_output = None

    def _draws_per_step(self) -> bool:
        return self.zoneout_outputs > 0 or self.zoneout_states > 0 or self.base_cell._draws_per_step()

    def reset(self) -> None:
        super().reset()
        self._prev_output = None

    def forward(self, inputs, states):
        out, new_states = self.base_cell(inputs, states)

        def keep_new(p, like):
            return npx.dropout(np.ones(like.shape, dtype=like.dtype), p) != 0

        prev = self._prev_output if self._prev_output is not None else np.zeros_like(out)
        if self.zoneout_outputs:
            out = np.where(keep_new(self.zoneout_outputs, out), out, prev)
        if self.zoneout_states:
            new_states = [np.where(keep_new(self.zoneout_states, n), n, o) for n, o in zip(new_states, states)]
        if is_training():
            self._prev_output = out
        return out, new_states


def dynamic_unroll(cell: RecurrentCell, inputs, begin_state=None, drop_inputs: float = 0.0, drop_outputs: float = 0.0,
                   layout: str = "TNC", valid_length=None) -> tuple:
    """MXNet 2's `rnn_cell.dynamic_unroll`: run `cell` over the whole of `inputs` (an array in `layout`)
    as one loop (one `scan` node when traced, so a hybridized graph does not grow with the length).
    Returns (outputs in `layout`, final states). drop_inputs / drop_outputs: dropout on the inputs and
    outputs with one mask shared along time (training only). With valid_length, outputs past each
    sequence's length are zero and its states are those of its last valid step."""
    if layout not in ("TNC", "NTC"):
        raise HybridError(f"dynamic_unroll: layout must be 'TNC' or 'NTC', got {layout!r}")
    if not isinstance(inputs, Array) or inputs.ndim < 2:
        raise HybridError(f"dynamic_unroll: inputs must be one array in layout {layout}, got "
                          f"{type(inputs).__name__}{getattr(inputs, 'shape', '')}")
    axis = layout.find("T")
    xs = np.moveaxis(inputs, axis, 0)
    if begin_state is None:
        begin_state = cell.begin_state(xs.shape[1], dtype=xs.dtype)
    states = [begin_state] if isinstance(begin_state, Array) else list(begin_state)
    if drop_inputs:
        xs = npx.dropout(xs, drop_inputs, axes=(0,))
    ys, states = cell._unroll_time_major(xs, states, valid_length)
    if drop_outputs:
        ys = npx.dropout(ys, drop_outputs, axes=(0,))
    return np.moveaxis(ys, 0, axis), states
