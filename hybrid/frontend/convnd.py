"""Convolution, transposed convolution and pooling over 1, 2 or 3 spatial dimensions, any layout.

One implementation per operation: the registry's 2-D primitives (conv2d; its input gradient,
which *is* the transposed convolution; max/avg_pool2d) do the work. A 1-D problem is a 2-D one
with a unit height; a 3-D one is a sum (or max) over the depth taps of 2-D problems on depth
slices folded into the batch. Everything is composed from primitives, so it runs eagerly,
traced, on every backend, and differentiates with the primitives' gradient rules.
Channel-last layouts (NWC, NHWC, NDHWC) transpose to channel-first and back; their weights are
(out, *kernel, in/groups), as MXNet stores them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import ml_dtypes
import numpy

from ..errors import ShapeError
from ..ir.ops.conv import conv_out_size
from ..ir.types import is_float_dtype
from . import np
from ..core.array import Array
from ..core.dispatch import bind

CHANNEL_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
CHANNEL_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def ntuple(value, n: int, what: str) -> tuple[int, ...]:
    """(v,)*n from an int, or a length-n sequence of ints."""
    if isinstance(value, (int, numpy.integer)):
        return (int(value),) * n
    out = tuple(int(v) for v in value)
    if len(out) != n:
        raise ValueError(f"{what}: expected an int or {n} ints, got {value!r}")
    return out


def spatial_rank(layout: Optional[str], ndim: int, op: str) -> tuple[int, bool]:
    """(number of spatial dims, channel_last) of a layout; `None` means channel-first."""
    rank = ndim - 2
    if rank not in (1, 2, 3):
        raise ShapeError(f"{op}: expects a batch with 1-3 spatial dimensions (3-d to 5-d input), got {ndim}-d")
    if layout is None or layout == CHANNEL_FIRST[rank]:
        return rank, False
    if layout == CHANNEL_LAST[rank]:
        return rank, True
    raise ValueError(f"{op}: layout {layout!r} does not fit a {ndim}-d input; use {CHANNEL_FIRST[rank]!r} "
                     f"or {CHANNEL_LAST[rank]!r}")


def to_channel_first(x: Array) -> Array:
    return np.moveaxis(x, -1, 1)


def to_channel_last(x: Array) -> Array:
    return np.moveaxis(x, 1, -1)


def _unit_height(x: Array) -> Array:
    """(N, C, W) -> (N, C, 1, W): a 1-D problem as a 2-D one."""
    return np.expand_dims(x, 2)


def _depth_slices(x: Array, start: int, count: int, step: int) -> Array:
    """x[:, :, start : start + step*(count-1) + 1 : step] of an N C D H W array, with depth folded
    into the batch: (N * count, C, H, W)."""
    n, c, _, h, w = x.shape
    end = start + step * (count - 1) + 1
    part = np.slice(x, (0, 0, start, 0, 0), (n, c, end, h, w), (1, 1, step, 1, 1))
    return np.reshape(np.transpose(part, (0, 2, 1, 3, 4)), (n * count, c, h, w))


def _unfold_depth(y: Array, n: int, count: int) -> Array:
    """(N * count, C, H, W) -> (N, C, count, H, W)."""
    return np.transpose(np.reshape(y, (n, count) + tuple(y.shape[1:])), (0, 2, 1, 3, 4))


def _pad_axis(x: Array, axis: int, before: int, after: int, value: float = 0.0) -> Array:
    if before == 0 and after == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return np.pad(x, widths, constant_values=value)


def conv(x: Array, w: Array, stride: Sequence[int], pad: Sequence[int], dilate: Sequence[int], groups: int) -> Array:
    """Channel-first convolution of rank len(stride): x (N, C, *S), w (O, C/groups, *K)."""
    rank = x.ndim - 2
    if w.ndim != x.ndim:
        raise ShapeError(f"convolution: a {x.ndim}-d input needs a {x.ndim}-d weight (out, in/groups, "
                         f"{rank} kernel dims), got weight shape {w.shape}")
    if rank == 2:
        return bind("conv2d", x, w, stride=tuple(stride), padding=tuple(pad), dilation=tuple(dilate),
                     groups=int(groups))
    if rank == 1:
        out = conv(_unit_height(x), _unit_height(w), (1,) + tuple(stride), (0,) + tuple(pad),
                   (1,) + tuple(dilate), groups)
        return np.squeeze(out, 2)
    n, _, d = x.shape[:3]
    kd = w.shape[2]
    out_d = conv_out_size(d, kd, stride[0], pad[0], dilate[0])
    if out_d <= 0:
        raise ShapeError(f"convolution: kernel depth {kd} does not fit input depth {d} with padding {pad[0]}")
    xp = _pad_axis(x, 2, pad[0], pad[0])
    total = None
    for tap in range(kd):
        w_tap = np.squeeze(np.slice(w, (0, 0, tap, 0, 0), (w.shape[0], w.shape[1], tap + 1) + tuple(w.shape[3:])), 2)
        part = conv(_depth_slices(xp, tap * dilate[0], out_d, stride[0]), w_tap, stride[1:], pad[1:], dilate[1:],
                    groups)
        total = part if total is None else total + part
    return _unfold_depth(total, n, out_d)


def deconv_size(size: int, kernel: int, stride: int, pad: int, dilate: int, adj: int) -> int:
    """Output length of a transposed convolution (the input length of the matching convolution)."""
    return (size - 1) * stride - 2 * pad + dilate * (kernel - 1) + 1 + adj


def deconv(x: Array, w: Array, stride: Sequence[int], pad: Sequence[int], dilate: Sequence[int], groups: int,
           adj: Sequence[int]) -> Array:
    """Channel-first transposed convolution: the gradient of `conv` with respect to its input.
    x (N, Cin, *S), w (Cin, Cout/groups, *K) as MXNet's Deconvolution."""
    rank = x.ndim - 2
    if w.ndim != x.ndim:
        raise ShapeError(f"deconvolution: a {x.ndim}-d input needs a {x.ndim}-d weight (in, out/groups, "
                         f"{rank} kernel dims), got weight shape {w.shape}")
    for a, s, dl in zip(adj, stride, dilate):
        if a >= max(s, dl):
            raise ShapeError(f"deconvolution: output padding {tuple(adj)} must be smaller than the stride "
                             f"{tuple(stride)} or the dilation {tuple(dilate)}")
    if rank == 2:
        n = x.shape[0]
        size = tuple(deconv_size(x.shape[2 + i], w.shape[2 + i], stride[i], pad[i], dilate[i], adj[i]) for i in range(2))
        if min(size) <= 0:
            raise ShapeError(f"deconvolution: input {x.shape} with kernel {w.shape[2:]} gives an empty output {size}")
        return bind("conv2d_input_grad", x, w, input_shape=(n, w.shape[1] * groups) + size, stride=tuple(stride),
                     padding=tuple(pad), dilation=tuple(dilate), groups=int(groups))
    if rank == 1:
        out = deconv(_unit_height(x), _unit_height(w), (1,) + tuple(stride), (0,) + tuple(pad),
                     (1,) + tuple(dilate), groups, (0,) + tuple(adj))
        return np.squeeze(out, 2)
    n, _, d = x.shape[:3]
    kd = w.shape[2]
    out_d = deconv_size(d, kd, stride[0], pad[0], dilate[0], adj[0])
    padded_d = out_d + 2 * pad[0]
    spread = (d - 1) * stride[0] + 1  # input depth with stride-1 zeros between slices
    xs = np.reshape(np.transpose(x, (0, 2, 1, 3, 4)), (n * d,) + tuple(x.shape[1:2] + x.shape[3:]))
    total = None
    for tap in range(kd):
        w_tap = np.squeeze(np.slice(w, (0, 0, tap, 0, 0), (w.shape[0], w.shape[1], tap + 1) + tuple(w.shape[3:])), 2)
        part = deconv(xs, w_tap, stride[1:], pad[1:], dilate[1:], groups, adj[1:])  # (N*D, Cout, OH, OW)
        part = np.reshape(part, (n, d) + tuple(part.shape[1:]))
        if stride[0] > 1:  # interleave stride-1 zero slices after each depth slice, drop the trailing ones
            part = _pad_axis(np.expand_dims(part, 2), 2, 0, stride[0] - 1)
            part = np.reshape(part, (n, d * stride[0]) + tuple(part.shape[3:]))
            part = np.slice(part, (0,) * part.ndim, (n, spread) + tuple(part.shape[2:]))
        start = tap * dilate[0]
        part = _pad_axis(part, 1, start, padded_d - start - spread)
        total = part if total is None else total + part
    total = np.slice(total, (0, pad[0], 0, 0, 0), (n, pad[0] + out_d) + tuple(total.shape[2:]))
    return np.transpose(total, (0, 2, 1, 3, 4))


def pool(x: Array, kernel: Sequence[int], stride: Sequence[int], pad: Sequence[int], pool_type: str,
         count_include_pad: bool) -> Array:
    """Channel-first max or average pooling of rank len(kernel)."""
    rank = x.ndim - 2
    if pool_type not in ("max", "avg"):
        raise ValueError(f"pooling: pool_type must be 'max' or 'avg', got {pool_type!r}")
    if rank == 2:
        if pool_type == "max":
            return bind("max_pool2d", x, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(pad))
        return bind("avg_pool2d", x, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(pad),
                     count_include_pad=bool(count_include_pad))
    if rank == 1:
        out = pool(_unit_height(x), (1,) + tuple(kernel), (1,) + tuple(stride), (0,) + tuple(pad), pool_type,
                   count_include_pad)
        return np.squeeze(out, 2)
    n, c, d = x.shape[:3]
    kd, sd, pd = kernel[0], stride[0], pad[0]
    if 2 * pd > kd:
        raise ShapeError(f"pooling: padding {tuple(pad)} must be at most half the kernel {tuple(kernel)}")
    out_d = conv_out_size(d, kd, sd, pd)
    if out_d <= 0:
        raise ShapeError(f"pooling: window depth {kd} does not fit input depth {d}")
    low = float(ml_dtypes.finfo(x.dtype).min) if is_float_dtype(x.dtype) else float(numpy.iinfo(x.dtype).min)
    xp = _pad_axis(x, 2, pd, pd, low if pool_type == "max" else 0.0)
    planes = pool(np.reshape(np.transpose(xp, (0, 2, 1, 3, 4)), (-1, c) + tuple(x.shape[3:])), kernel[1:],
                  stride[1:], pad[1:], pool_type, count_include_pad)
    planes = _unfold_depth(planes, n, d + 2 * pd)  # (N, C, Dp, OH, OW)
    total = None
    for tap in range(kd):
        part = np.slice(planes, (0, 0, tap, 0, 0), (n, c, tap + sd * (out_d - 1) + 1) + tuple(planes.shape[3:]),
                        (1, 1, sd, 1, 1))
        total = part if total is None else (np.maximum(total, part) if pool_type == "max" else total + part)
    if pool_type == "max":
        return total
    if count_include_pad:
        return total * (1.0 / kd)
    # depth taps inside the unpadded input, per output depth position (a constant)
    starts = numpy.arange(out_d) * sd - pd
    counts = numpy.minimum(starts + kd, d) - numpy.maximum(starts, 0)
    return total * np.array((1.0 / counts).astype(x.dtype).reshape(1, 1, out_d, 1, 1))


def ceil_mode_pad(x: Array, kernel: Sequence[int], stride: Sequence[int], pad: Sequence[int],
                  pool_type: str) -> Array:
    """Extend the end of each spatial axis so floor-mode pooling gives ceil-mode ('full') output
    sizes; a last window must still start inside the (padded) input. Max pooling only: the added
    cells hold the dtype's lowest value, so they never win."""
    if pool_type != "max":
        raise ValueError("pooling: ceil_mode / pooling_convention='full' is supported for max pooling; for "
                         "average pooling pad the input explicitly")
    low = float(ml_dtypes.finfo(x.dtype).min) if is_float_dtype(x.dtype) else float(numpy.iinfo(x.dtype).min)
    for i, (k, s, p) in enumerate(zip(kernel, stride, pad)):
        size = x.shape[2 + i]
        out = -(-(size + 2 * p - k) // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        extra = (out - 1) * s + k - (size + 2 * p)
        if extra > 0:
            x = _pad_axis(x, 2 + i, 0, extra, low)
    return x


def global_pool(x: Array, pool_type: str) -> Array:
    """Pool each whole feature map of a channel-first array (keeps unit spatial dims)."""
    axes = tuple(range(2, x.ndim))
    if pool_type == "max":
        return np.max(x, axes, keepdims=True)
    if pool_type == "avg":
        return np.mean(x, axes, keepdims=True)
    raise ValueError(f"pooling: pool_type must be 'max' or 'avg', got {pool_type!r}")
