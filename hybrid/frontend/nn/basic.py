"""Basic layers (Gluon names): Dense, Dropout, Flatten, Embedding, Activation, LayerNorm,
BatchNorm, Sequential and HybridSequential."""
from __future__ import annotations

import warnings
from typing import Optional

from .. import np, npx
from ...core.autograd import is_training
from ..block import Block, HybridBlock
from ..parameter import Parameter
from ...core.tracing import current_trace


class Sequential(Block):
    """Runs children in order."""

    def add(self, *blocks: Block) -> "Sequential":
        for b in blocks:
            self.register_child(b)
        return self

    def forward(self, x):
        for child in self._child_blocks():
            x = child(x)
        return x

    def __getitem__(self, i):
        """A child by position; a slice gives a new container of the same kind holding those children."""
        children = self._child_blocks()[i]
        if isinstance(i, slice):
            return type(self)().add(*children)
        return children

    def __len__(self) -> int:
        return len(self._children)

    def hybridize(self, active: bool = True, **options) -> None:
        if active and self._children and all(isinstance(c, HybridBlock) for c in self._child_blocks()):
            warnings.warn(f"every child of this Sequential is a HybridBlock: use HybridSequential to compile the "
                          "whole chain as one graph (a Sequential compiles each child on its own)", stacklevel=2)
        super().hybridize(active, **options)


class HybridSequential(HybridBlock):
    """Runs children in order; hybridizable as a whole."""

    add = Sequential.add
    forward = Sequential.forward
    __getitem__ = Sequential.__getitem__
    __len__ = Sequential.__len__


class Dense(HybridBlock):
    """y = activation(x @ weight.T + bias). `flatten` folds all axes but the first into features;
    `in_units=0` defers the weight shape to the first call."""

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True, flatten: bool = True,
                 dtype="float32", weight_initializer=None, bias_initializer="zeros", in_units: int = 0):
        super().__init__()
        self.units, self.activation, self.flatten = units, activation, flatten
        self.weight = Parameter("weight", (units, in_units), dtype, weight_initializer)
        self.bias = Parameter("bias", (units,), dtype, bias_initializer) if use_bias else None

    def forward(self, x):
        if not self.weight.is_initialized:
            in_units = x.size // x.shape[0] if self.flatten else x.shape[-1]
            self.weight._finish_deferred_init((self.units, in_units))
        out = npx.fully_connected(x, self.weight.data(), self.bias.data() if self.bias is not None else None,
                                  flatten=self.flatten)
        return npx.activation(out, self.activation) if self.activation else out

    def _extra_repr(self) -> str:
        return f"{self.weight.shape[1] or None} -> {self.units}" + (f", {self.activation}" if self.activation else "")


class Activation(HybridBlock):
    def __init__(self, activation: str):
        super().__init__()
        self.activation = activation

    def forward(self, x):
        return npx.activation(x, self.activation)

    def _extra_repr(self) -> str:
        return self.activation


class Dropout(HybridBlock):
    """Zeroes elements with probability `rate` in training mode (autograd.record / train_mode);
    `axes`: one mask value shared along these axes (variational dropout)."""

    def __init__(self, rate: float, axes=()):
        super().__init__()
        self.rate, self.axes = rate, tuple(axes) if not isinstance(axes, int) else (axes,)

    def forward(self, x):
        return npx.dropout(x, self.rate, axes=self.axes)

    def _extra_repr(self) -> str:
        return f"p={self.rate}"


class Flatten(HybridBlock):
    def forward(self, x):
        return np.reshape(x, (x.shape[0], -1))


class Embedding(HybridBlock):
    def __init__(self, input_dim: int, output_dim: int, dtype="float32", weight_initializer=None,
                 sparse_grad: bool = False):
        super().__init__()
        # sparse_grad=True asks for a row_sparse gradient, which Parameter refuses with the reason
        self.weight = Parameter("weight", (input_dim, output_dim), dtype, weight_initializer,
                                grad_stype="row_sparse" if sparse_grad else "default")

    def forward(self, x):
        return npx.embedding(x, self.weight.data())


class LayerNorm(HybridBlock):
    def __init__(self, axis: int = -1, epsilon: float = 1e-5, center: bool = True, scale: bool = True,
                 in_channels: int = 0):
        super().__init__()
        self.axis, self.epsilon = axis, epsilon
        self.gamma = Parameter("gamma", (in_channels,), init="ones", grad_req="write" if scale else "null")
        self.beta = Parameter("beta", (in_channels,), init="zeros", grad_req="write" if center else "null")

    def forward(self, x):
        for p in (self.gamma, self.beta):
            p._finish_deferred_init((x.shape[self.axis],))
        return npx.layer_norm(x, self.gamma.data(), self.beta.data(), self.axis, self.epsilon)


def update_state(param: Parameter, value) -> None:
    """Set a non-trainable parameter (running statistics): now when eager; as an extra graph
    output applied after each compiled call when traced."""
    trace = current_trace()
    if trace is None:
        param.set_data(value.asnumpy())
    else:
        trace.side_outputs.append((lambda v, p=param: p.set_data(v.asnumpy()), value))


class BatchNorm(HybridBlock):
    """Batch normalization over `axis` (channels). Training mode normalizes with batch statistics
    and updates running_mean/running_var with `momentum`; otherwise uses the running values."""

    def __init__(self, axis: int = 1, momentum: float = 0.9, epsilon: float = 1e-5, center: bool = True,
                 scale: bool = True, in_channels: int = 0):
        super().__init__()
        self.axis, self.momentum, self.epsilon, self.scale = axis, momentum, epsilon, scale
        self.gamma = Parameter("gamma", (in_channels,), init="ones", grad_req="write" if scale else "null")
        self.beta = Parameter("beta", (in_channels,), init="zeros", grad_req="write" if center else "null")
        self.running_mean = Parameter("running_mean", (in_channels,), init="zeros", grad_req="null")
        self.running_var = Parameter("running_var", (in_channels,), init="ones", grad_req="null")

    def forward(self, x):
        params = (self.gamma, self.beta, self.running_mean, self.running_var)
        for p in params:
            p._finish_deferred_init((x.shape[self.axis],))
        gamma, beta, mean, var = (p.data() for p in params)
        if not is_training():
            return npx.batch_norm(x, gamma, beta, mean, var, self.epsilon, self.axis, use_batch_stats=False,
                                  fix_gamma=not self.scale)
        out, batch_mean, batch_var = npx.batch_norm(x, gamma, beta, mean, var, self.epsilon, self.axis,
                                                    use_batch_stats=True, fix_gamma=not self.scale)
        m = self.momentum
        count = x.size // x.shape[self.axis]
        unbiased = batch_var * (count / max(count - 1, 1))
        update_state(self.running_mean, np.stop_gradient(mean * m + batch_mean * (1 - m)))
        update_state(self.running_var, np.stop_gradient(var * m + unbiased * (1 - m)))
        return out
