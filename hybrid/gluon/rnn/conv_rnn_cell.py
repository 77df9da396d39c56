"""Convolutional recurrent cells with MXNet Gluon's names (Conv1D/2D/3D x RNN/LSTM/GRU; Shi et al. 2015's
ConvLSTM): the step's input and state projections are convolutions instead of matmuls, the state is a
feature map, and the gates split along the channel axis. The gate arithmetic is the dense cells'
(steps.gated), so each mode is written once.

    cell = Conv2DLSTMCell(input_shape=(C, H, W), hidden_channels, i2h_kernel, h2h_kernel)
    out, [h, c] = cell(x, states)         # x (N, C, H, W); h, c (N, hidden_channels, H', W')

i2h is a 'valid' convolution (i2h_pad, i2h_dilate), so H' = H + 2 pad - dilate (k - 1); h2h keeps the
state's size ('same' padding), hence its kernel must be odd. `input_shape` excludes the batch axis;
its channel entry may be -1 (fixed by infer_shape or the first call)."""
from __future__ import annotations

from ...errors import HybridError
from ...frontend import npx
from ...frontend.parameter import Parameter
from .rnn_cell import HybridRecurrentCell
from .steps import GATES, NUM_STATES, gated

_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


class _ConvCell(HybridRecurrentCell):
    _mode: str = ""
    _dims: int = 0

    def __init__(self, input_shape, hidden_channels: int, i2h_kernel, h2h_kernel, i2h_pad=0, i2h_dilate=1,
                 h2h_dilate=1, i2h_weight_initializer=None, h2h_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", conv_layout=None, activation: str = "tanh"):
        super().__init__()
        name, dims = type(self).__name__, self._dims
        layout = conv_layout or _LAYOUTS[dims][0]
        if layout not in _LAYOUTS[dims]:
            raise HybridError(f"{name}: conv_layout must be one of {_LAYOUTS[dims]}, got {conv_layout!r}")
        if len(input_shape) != dims + 1:
            raise HybridError(f"{name}: input_shape is (channels and {dims} spatial sizes) without the batch axis, "
                              f"got {tuple(input_shape)}")
        self._i2h_kernel, self._i2h_pad, self._i2h_dilate, self._h2h_kernel, self._h2h_dilate = (
            self._per_dim(spec, what) for spec, what in ((i2h_kernel, "i2h_kernel"), (i2h_pad, "i2h_pad"),
                                                         (i2h_dilate, "i2h_dilate"), (h2h_kernel, "h2h_kernel"),
                                                         (h2h_dilate, "h2h_dilate")))
        if any(k % 2 == 0 for k in self._h2h_kernel):
            raise HybridError(f"{name}: h2h_kernel must be odd (the state keeps its size), got {h2h_kernel}")
        self._layout, self._hidden_channels, self._activation = layout, hidden_channels, activation
        self._channel_axis = layout.find("C")              # of the batched arrays
        self._h2h_pad = tuple(d * (k - 1) // 2 for d, k in zip(self._h2h_dilate, self._h2h_kernel))
        in_channels = max(int(input_shape[self._channel_axis - 1]), 0)   # -1: unknown until infer_shape
        spatial = [d for i, d in enumerate(input_shape) if i != self._channel_axis - 1]
        out = tuple(d + 2 * p - dl * (k - 1) for d, p, dl, k in zip(spatial, self._i2h_pad, self._i2h_dilate,
                                                                    self._i2h_kernel))
        if min(out) < 1:
            raise HybridError(f"{name}: input {tuple(input_shape)} is smaller than i2h_kernel {self._i2h_kernel} "
                              f"(pad {self._i2h_pad}, dilate {self._i2h_dilate})")
        channel_first = self._channel_axis == 1
        self._state_shape = (hidden_channels,) + out if channel_first else out + (hidden_channels,)
        rows = GATES[self._mode] * hidden_channels
        self.i2h_weight = Parameter("i2h_weight", self._weight_shape(rows, in_channels, self._i2h_kernel), "float32",
                                    i2h_weight_initializer)
        self.h2h_weight = Parameter("h2h_weight", self._weight_shape(rows, hidden_channels, self._h2h_kernel),
                                    "float32", h2h_weight_initializer)
        self.i2h_bias = Parameter("i2h_bias", (rows,), "float32", i2h_bias_initializer)
        self.h2h_bias = Parameter("h2h_bias", (rows,), "float32", h2h_bias_initializer)

    def _per_dim(self, spec, what: str) -> tuple:
        values = (spec,) * self._dims if isinstance(spec, int) else tuple(spec)
        if len(values) != self._dims:
            raise HybridError(f"{type(self).__name__}: {what} must be an int or {self._dims} ints, got {spec!r}")
        return values

    def _weight_shape(self, rows: int, channels: int, kernel: tuple) -> tuple:
        return (rows, channels) + kernel if self._channel_axis == 1 else (rows,) + kernel + (channels,)

    def infer_shape(self, i: int, x, is_bidirect: bool) -> None:
        """The input channels from x: its last (spatial dims + 1) axes are one step's (C, *S) or (*S, C)."""
        channels = x.shape[-(self._dims + 1):][self._channel_axis - 1]
        self.i2h_weight._infer_shape(self._weight_shape(self.i2h_weight.shape[0], channels, self._i2h_kernel))

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [{"shape": (batch_size,) + self._state_shape, "__layout__": self._layout}] * NUM_STATES[self._mode]

    def forward(self, inputs, states):
        if inputs.ndim != self._dims + 2:
            raise HybridError(f"{type(self).__name__}: a step's input is ({self._layout}), got shape {inputs.shape}")
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if not self.i2h_weight.is_initialized:
            self.i2h_weight._finish_deferred_init(self._weight_shape(self.i2h_weight.shape[0],
                                                                     inputs.shape[self._channel_axis], self._i2h_kernel))
        xw = npx.convolution(inputs, self.i2h_weight.data(), self.i2h_bias.data(), kernel=self._i2h_kernel,
                             pad=self._i2h_pad, dilate=self._i2h_dilate, layout=self._layout)
        hw = npx.convolution(states[0], self.h2h_weight.data(), self.h2h_bias.data(), kernel=self._h2h_kernel,
                             pad=self._h2h_pad, dilate=self._h2h_dilate, layout=self._layout)
        return gated(self._mode, xw, hw, states, self._activation, "sigmoid", axis=self._channel_axis)

    def _extra_repr(self) -> str:
        return f"{self.i2h_weight.shape[0] // GATES[self._mode]} channels, {self._activation}, {self._layout}"


class Conv1DRNNCell(_ConvCell):
    """h' = activation(conv(x, i2h) + conv(h, h2h)) over (N, C, W) steps."""
    _mode, _dims = "rnn", 1


class Conv2DRNNCell(_ConvCell):
    """h' = activation(conv(x, i2h) + conv(h, h2h)) over (N, C, H, W) steps."""
    _mode, _dims = "rnn", 2


class Conv3DRNNCell(_ConvCell):
    """h' = activation(conv(x, i2h) + conv(h, h2h)) over (N, C, D, H, W) steps."""
    _mode, _dims = "rnn", 3


class Conv1DLSTMCell(_ConvCell):
    """ConvLSTM over (N, C, W) steps; states [h, c]; gates [input, forget, candidate, output]."""
    _mode, _dims = "lstm", 1


class Conv2DLSTMCell(_ConvCell):
    """ConvLSTM (Shi et al. 2015) over (N, C, H, W) steps; states [h, c]; gates [input, forget, candidate, output]."""
    _mode, _dims = "lstm", 2


class Conv3DLSTMCell(_ConvCell):
    """ConvLSTM over (N, C, D, H, W) steps; states [h, c]; gates [input, forget, candidate, output]."""
    _mode, _dims = "lstm", 3


class Conv1DGRUCell(_ConvCell):
    """Convolutional GRU over (N, C, W) steps; gates [reset, update, new]."""
    _mode, _dims = "gru", 1


class Conv2DGRUCell(_ConvCell):
    """Convolutional GRU over (N, C, H, W) steps; gates [reset, update, new]."""
    _mode, _dims = "gru", 2


class Conv3DGRUCell(_ConvCell):
    """Convolutional GRU over (N, C, D, H, W) steps; gates [reset, update, new]."""
    _mode, _dims = "gru", 3
