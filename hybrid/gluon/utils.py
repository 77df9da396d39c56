"""Gluon's gluon.utils: global-norm clipping (functional and in place), splitting a batch
across devices (split_data, split_and_load), MXNet 2's fused RNN parameter layout
(split_rnn_params, join_rnn_params), and download / check_sha1 (gluon/download.py)."""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy

from ..errors import HybridError
from ..core import autograd
from ..frontend import np
from ..core.array import Array, NDArray
from .download import check_sha1, download  # noqa: F401  (MXNet's gluon.utils names)

_NORM_EPS = 1e-8


def global_norm(arrays: Sequence[Array]) -> Array:
    """sqrt(sum of squares of every element of every array), a 0-d array (traceable)."""
    if not arrays:
        raise HybridError("global_norm of an empty list of arrays")
    total = None
    for a in arrays:
        sq = np.sum(a * a)
        total = sq if total is None else total + sq
    return np.sqrt(total)


def clip_by_global_norm(arrays: Sequence[Array], max_norm: float) -> tuple[list[Array], Array]:
    """Scale all arrays by min(1, max_norm / norm) so their global norm is at most max_norm.
    Pure (traceable): returns (clipped arrays, the norm before clipping)."""
    if max_norm <= 0:
        raise HybridError(f"max_norm must be positive, got {max_norm}")
    norm = global_norm(arrays)
    scale = np.minimum(max_norm / (norm + _NORM_EPS), 1.0)
    return [a * scale for a in arrays], norm


def clip_global_norm(arrays: Sequence[NDArray], max_norm: float, check_isfinite: bool = True) -> float:
    """Gluon's in-place form: rescale the NDArrays (e.g. gradients) and return the norm."""
    if not all(isinstance(a, NDArray) for a in arrays):
        raise HybridError("clip_global_norm works in place on NDArrays; inside traced code use "
                          "clip_by_global_norm, which returns the clipped arrays")
    with autograd.pause():
        clipped, norm = clip_by_global_norm(arrays, max_norm)
    for a, c in zip(arrays, clipped):
        a._assign(c._data)
    value = float(norm)
    if check_isfinite and not math.isfinite(value):
        warnings.warn(f"clip_global_norm: the global norm is {value}; gradients are not finite", stacklevel=2)
    return value



class UnevenSplitError(HybridError, ValueError):
    """split_data(even_split=True) of a batch the slice count does not divide (a ValueError, as MXNet's)."""


def split_data(data, num_slice: int, batch_axis: int = 0, even_split: bool = True) -> list:
    """`data` cut into `num_slice` slices along `batch_axis` (MXNet 2's rule, NumPy's array_split:
    with even_split=False the first size % num_slice slices take one extra sample)."""
    array = data if isinstance(data, NDArray) else NDArray(numpy.asarray(data))
    size = array.shape[batch_axis]
    if num_slice < 1:
        raise HybridError(f"split_data: num_slice must be >= 1, got {num_slice}")
    if even_split and size % num_slice:
        raise UnevenSplitError(f"split_data: data of shape {array.shape} cannot be split evenly into {num_slice} "
                               f"slices along axis {batch_axis}; use a batch size that is a multiple of {num_slice} "
                               "or even_split=False")
    step, extras = divmod(size, num_slice)
    ends = numpy.cumsum([0] + [step + 1] * extras + [step] * (num_slice - extras))
    index = [slice(None)] * array.ndim
    slices = []
    for begin, end in zip(ends[:-1], ends[1:]):
        index[batch_axis] = slice(int(begin), int(end))
        slices.append(NDArray(numpy.ascontiguousarray(array._data[tuple(index)])))
    return slices


def split_and_load(data, ctx_list: Sequence, batch_axis: int = 0, even_split: bool = True) -> list:
    """Split a batch along `batch_axis` and put slice i on `ctx_list[i]` (hb.cpu(i) or hb.gpu(i))."""
    ctx_list = list(ctx_list)
    if not ctx_list:
        raise HybridError("split_and_load: ctx_list is empty; give the devices, e.g. [hb.cpu(0), hb.cpu(1)]")
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [s.as_in_context(ctx) for s, ctx in zip(slices, ctx_list)]


_RNN_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def _rnn_param_layout(mode: str, num_layers: int, input_size: int, hidden_size: int, bidirectional: bool,
                      projection_size) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of each piece of MXNet 2's fused RNN parameter vector, in storage order: every
    weight (layer by layer, direction l then r, i2h then h2h [then h2r]), then every bias likewise."""
    if mode not in _RNN_GATES:
        raise HybridError(f"split_rnn_params: mode must be one of {sorted(_RNN_GATES)}, got {mode!r}")
    rows, dirs = _RNN_GATES[mode] * hidden_size, "lr"[:2 if bidirectional else 1]
    state = projection_size or hidden_size            # what h2h multiplies and each layer emits
    pieces = []
    for kind in ("weight", "bias"):
        for layer in range(num_layers):
            width = input_size if layer == 0 else state * len(dirs)
            for d in dirs:
                prefix = f"{d}{layer}"
                if kind == "bias":
                    pieces += [(f"{prefix}_i2h_bias", (rows,)), (f"{prefix}_h2h_bias", (rows,))]
                    continue
                pieces += [(f"{prefix}_i2h_weight", (rows, width)), (f"{prefix}_h2h_weight", (rows, state))]
                if projection_size:
                    pieces.append((f"{prefix}_h2r_weight", (projection_size, hidden_size)))
    return pieces


def split_rnn_params(param, mode: str, num_layers: int, input_size: int, hidden_size: int,
                     bidirectional: bool = False, projection_size=None) -> dict:
    """MXNet 2's fused RNN parameter vector split into named weights and biases
    ({'l0_i2h_weight': (gates*hidden, input_size) array, ..., 'r1_h2h_bias': ...}); mode is
    'rnn_relu', 'rnn_tanh', 'lstm' or 'gru'."""
    pieces = _rnn_param_layout(mode, num_layers, input_size, hidden_size, bidirectional, projection_size)
    total = sum(math.prod(shape) for _, shape in pieces)
    if param.ndim != 1 or param.shape[0] != total:
        raise HybridError(f"split_rnn_params: a {mode} of {num_layers} layer(s), input {input_size}, hidden "
                          f"{hidden_size}{', bidirectional' if bidirectional else ''} has {total} parameters; got "
                          f"an array of shape {tuple(param.shape)}")
    out, begin = {}, 0
    for name, shape in pieces:
        size = math.prod(shape)
        out[name] = param[begin:begin + size].reshape(shape)
        begin += size
    return out


def join_rnn_params(pieces: dict, mode: str, num_layers: int, input_size: int, hidden_size: int,
                    bidirectional: bool = False, projection_size=None):
    """The inverse of `split_rnn_params`: named weights and biases ({'l0_i2h_weight': ..., ...}, as
    MXNet 1.x's per-layer parameters) joined into MXNet 2's fused vector, as a NumPy array."""
    layout = _rnn_param_layout(mode, num_layers, input_size, hidden_size, bidirectional, projection_size)
    missing = [name for name, _ in layout if name not in pieces]
    if missing:
        raise HybridError(f"join_rnn_params: a {mode} of {num_layers} layer(s) needs {missing} too")
    parts = []
    for name, shape in layout:
        value = numpy.asarray(pieces[name])     # NumPy arrays and hybrid arrays (via __array__)
        if tuple(value.shape) != shape:
            raise HybridError(f"join_rnn_params: {name} must have shape {shape} (a {mode} with input "
                              f"{input_size}, hidden {hidden_size}), got {tuple(value.shape)}")
        parts.append(value.ravel())
    return numpy.concatenate(parts)
