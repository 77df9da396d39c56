"""Structural layers (Gluon names): Identity, (Hybrid)Concatenate, (Hybrid)Lambda,
ReflectionPad2D and PixelShuffle1D/2D/3D."""
from __future__ import annotations

from typing import Callable, Union

from .. import np, npx
from ..block import Block, HybridBlock
from ..convnd import ntuple
from .basic import Sequential


class Identity(HybridBlock):
    """Returns its input (a placeholder branch, e.g. in a residual unit)."""

    def forward(self, x):
        return x


class Concatenate(Sequential):
    """Runs every child on the same input and concatenates their outputs along `axis`."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return np.concatenate([child(x) for child in self._child_blocks()], axis=self.axis)


class HybridConcatenate(HybridBlock):
    """Hybridizable Concatenate."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    add = Sequential.add
    forward = Concatenate.forward
    __getitem__ = Sequential.__getitem__
    __len__ = Sequential.__len__


def _resolve(function: Union[str, Callable], layer: str) -> Callable:
    """A callable, or the name of an hb.np / hb.npx function."""
    if callable(function):
        return function
    for namespace in (npx, np):
        fn = getattr(namespace, str(function), None)
        if callable(fn):
            return fn
    raise ValueError(f"{layer}: {function!r} is neither a callable nor the name of an hb.np / hb.npx function")


class Lambda(Block):
    """Wraps a function (or the name of an np/npx function) as a block."""

    def __init__(self, function: Union[str, Callable]):
        Block.__init__(self)
        self._func = _resolve(function, type(self).__name__)

    def forward(self, *args):
        return self._func(*args)

    def _extra_repr(self) -> str:
        return getattr(self._func, "__name__", repr(self._func))


class HybridLambda(HybridBlock):
    """A hybridizable Lambda: the function must use hb.np / hb.npx operations only."""

    def __init__(self, function: Union[str, Callable]):
        super().__init__()
        self._func = _resolve(function, type(self).__name__)

    forward = Lambda.forward
    _extra_repr = Lambda._extra_repr


class ReflectionPad2D(HybridBlock):
    """Mirror-pad the last two axes (H, W of NCHW) by `padding` on every side (an int) or by
    (top, bottom, left, right)."""

    def __init__(self, padding=0):
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * 4
        padding = tuple(int(p) for p in padding)
        if len(padding) == 8:  # MXNet's pad_width over all four axes: the batch/channel entries must be 0
            if any(padding[:4]):
                raise ValueError(f"ReflectionPad2D pads H and W only; got pad_width {padding}")
            padding = padding[4:]
        if len(padding) != 4:
            raise ValueError(f"ReflectionPad2D: padding must be an int, 4 ints or MXNet's 8-int pad_width, got {padding}")
        self.padding = padding

    def forward(self, x):
        top, bottom, left, right = self.padding
        return npx.reflection_pad(x, [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)])


class _PixelShuffle(HybridBlock):
    rank = 2

    def __init__(self, factor):
        super().__init__()
        self.factors = ntuple(factor, self.rank, f"{type(self).__name__} factor")

    def forward(self, x):
        return npx.pixel_shuffle(x, self.factors)


class PixelShuffle1D(_PixelShuffle):
    """(N, C*f, W) -> (N, C, W*f)."""
    rank = 1


class PixelShuffle2D(_PixelShuffle):
    """(N, C*f1*f2, H, W) -> (N, C, H*f1, W*f2) (sub-pixel convolution upsampling)."""
    rank = 2


class PixelShuffle3D(_PixelShuffle):
    rank = 3
