"""Spatial sampling: GridSample (nearest / linear / cubic, zeros / border / reflection padding, 2-d and
3-d) and AffineGrid.

GridSample is separable: along each spatial axis a sample point has 1, 2 or 4 taps (index and weight,
computed elementwise from the grid); the output is the sum over every combination of taps of the
product of their weights times the pixel gathered with `take` at the combined flat index. Indices
are data-dependent but shapes are not, so it compiles, and it is differentiable in the input (the
gathers) and in the grid (the weights).
"""
from __future__ import annotations

import itertools

import numpy

from ...core.promote import cast
from ...frontend import np
from .base import OnnxNode, converts
from .shape import const_array

_CUBIC_ALPHA = -0.75   # Keys' cubic convolution, as ONNX specifies


def _reflect(v, lo: float, hi: float):
    """Fold v into [lo, hi] by reflecting at the borders as often as needed."""
    span = hi - lo
    below, above = v < lo, v > hi
    dist = np.where(below, lo - v, np.where(above, v - hi, 0.0))
    folds = np.trunc(dist / span)
    rest = dist - folds * span
    even = np.equal(np.fmod(folds, 2.0), 0.0)
    from_lo, from_hi = lo + rest, hi - rest
    return np.where(below, np.where(even, from_lo, from_hi), np.where(above, np.where(even, from_hi, from_lo), v))


def _cubic_weights(t):
    """Keys' four weights for taps at offsets -1, 0, 1, 2 from floor(x), t = x - floor(x)."""
    a = _CUBIC_ALPHA

    def near(d):   # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):    # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def _taps(x, length: int, mode: str, padding: str, lo: float, hi: float):
    """[(index, weight)] along one axis for sample coordinates x (pixel units): indices clipped into
    range, weights zero where a tap falls outside with zero padding."""
    if mode == "nearest":
        base, offsets, weights = x, [0], [None]
    else:
        base = np.floor(x)
        t = x - base
        offsets, weights = ([0, 1], [1.0 - t, t]) if mode == "linear" else ([-1, 0, 1, 2], _cubic_weights(t))
    taps = []
    for offset, weight in zip(offsets, weights):
        i = base + float(offset)
        if padding == "border":
            i = np.clip(i, 0.0, length - 1.0)
        elif padding == "reflection":
            i = np.trunc(_reflect(i, lo, hi))
        else:
            inside = np.logical_and(i >= 0.0, i <= length - 1.0)
            mask = cast(inside, x.type.dtype)
            weight = mask if weight is None else weight * mask
            i = np.clip(i, 0.0, length - 1.0)
        taps.append((cast(i, "i64"), weight))
    return taps


@converts("GridSample")
def _grid_sample(node: OnnxNode):
    x, grid = node.input(0), node.input(1)
    mode = node.attr("mode", "linear" if node.opset >= 20 else "bilinear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)   # the names before opset 20
    padding = node.attr("padding_mode", "zeros")
    align = bool(node.attr("align_corners", 0))
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise node.fail(f"mode {mode!r} / padding_mode {padding!r} is not one of nearest/linear/cubic, "
                        "zeros/border/reflection")
    n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    out_spatial = grid.shape[1:-1]
    grid = cast(grid, x.type.dtype)
    per_axis = []
    for axis, length in enumerate(spatial):
        g = grid[..., len(spatial) - 1 - axis]          # the grid's last axis lists (x, y[, z]): reversed
        pos = (g + 1.0) * ((length - 1) / 2.0) if align else ((g + 1.0) * length - 1.0) / 2.0
        lo, hi = (0.0, length - 1.0) if align else (-0.5, length - 0.5)
        if mode == "nearest":
            pos = np.round(pos)   # half to even, as the reference's rint
        if padding == "border":
            pos = np.where(np.logical_or(pos < lo, pos > hi), np.clip(pos, 0.0, length - 1.0), pos)
        elif padding == "reflection":
            pos = _reflect(pos, lo, hi)
        per_axis.append(_taps(pos, length, mode, padding, lo, hi))
    # gather from (N * prod(spatial), C) rows: row = batch * prod(spatial) + flat spatial index
    pixels = int(numpy.prod(spatial))
    rows = np.reshape(np.moveaxis(x, 1, -1), (n * pixels, c))
    batch = const_array(numpy.arange(n, dtype=numpy.int64).reshape((n,) + (1,) * len(out_spatial)) * pixels)
    strides = [int(numpy.prod(spatial[a + 1:])) for a in range(len(spatial))]
    out = None
    for combo in itertools.product(*per_axis):
        flat = batch
        weight = None
        for (index, w), stride in zip(combo, strides):
            flat = flat + index * stride
            weight = w if weight is None else (weight if w is None else weight * w)
        values = np.reshape(np.take(rows, np.reshape(flat, (-1,)), axis=0), (n,) + tuple(out_spatial) + (c,))
        term = values if weight is None else values * np.expand_dims(weight, -1)
        out = term if out is None else out + term
    return np.moveaxis(out, -1, 1)


@converts("AffineGrid")
def _affine_grid(node: OnnxNode):
    """Sampling grid (N, [D,] H, W, 2|3) of theta (N, 2, 3) or (N, 3, 4) applied to the normalized
    coordinates of every output pixel."""
    theta = node.input(0)
    size = node.ints(1)
    align = bool(node.attr("align_corners", 0))
    spatial = size[2:]
    axes = []
    for length in spatial:
        if align:
            axes.append(numpy.linspace(-1.0, 1.0, length) if length > 1 else numpy.zeros(1))
        else:
            axes.append((numpy.arange(length) * 2.0 + 1.0) / length - 1.0)
    mesh = numpy.meshgrid(*axes, indexing="ij")                  # per spatial axis, outermost first
    homo = numpy.stack(list(mesh[::-1]) + [numpy.ones(mesh[0].shape)], -1).reshape(-1, len(spatial) + 1)
    base = cast(const_array(homo), theta.type.dtype)             # (P, k + 1): (x, y[, z], 1)
    grid = np.matmul(base, np.swapaxes(theta, -1, -2))           # (N, P, k)
    return np.reshape(grid, (size[0],) + tuple(spatial) + (len(spatial),))


@converts("DeformConv")
def _deform_conv(node: OnnxNode):
    """Convolution whose taps sit at learned offsets: every (kernel position, output position) samples
    the input bilinearly (zero outside, GridSample's linear taps) at its grid point plus its offset,
    optionally scaled by a mask; the samples form im2col columns, multiplied by the weights per group.
    Differentiable in the input, weights, offsets, mask and bias."""
    x, w, offset = node.input(0), node.input(1), node.input(2)
    bias, mask = node.optional(3), node.optional(4)
    n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    dims = len(spatial)
    kernel = node.attr("kernel_shape", list(w.shape[2:]))
    strides = node.attr("strides", [1] * dims)
    dilations = node.attr("dilations", [1] * dims)
    pads = node.attr("pads", [0] * 2 * dims)
    groups, offset_groups = node.attr("group", 1), node.attr("offset_group", 1)
    out_spatial = offset.shape[2:]
    k, p = int(numpy.prod(kernel)), int(numpy.prod(out_spatial))
    if c != w.shape[1] * groups or w.shape[0] % groups or c % offset_groups or \
            offset.shape[1] != offset_groups * k * dims:
        raise node.fail(f"inconsistent shapes: X {x.shape}, W {w.shape}, offset {offset.shape} with group {groups} "
                        f"and offset_group {offset_groups}")
    dtype = x.type.dtype
    # (N, G, K, D, P): offsets per offset group, kernel position, axis and output position
    offset = np.reshape(cast(offset, dtype), (n, offset_groups, k, dims, p))
    taps_per_axis = []
    for d in range(dims):
        kernel_pos = numpy.array(list(itertools.product(*[range(s) for s in kernel])))[:, d] * dilations[d]
        out_pos = numpy.array(list(itertools.product(*[range(s) for s in out_spatial])))[:, d] * strides[d]
        grid = cast(const_array((kernel_pos[:, None] + out_pos[None, :] - pads[d]).astype(numpy.float64)), dtype)
        taps_per_axis.append(_taps(grid + offset[:, :, :, d, :], spatial[d], "linear", "zeros", 0.0, 0.0))
    pixels = int(numpy.prod(spatial))
    per_group = c // offset_groups
    # rows of (batch, offset group, pixel) holding that group's channels
    rows = np.reshape(np.moveaxis(np.reshape(x, (n, offset_groups, per_group, pixels)), 2, -1),
                      (n * offset_groups * pixels, per_group))
    base = const_array((numpy.arange(n * offset_groups) * pixels).reshape(n, offset_groups, 1, 1))
    strides_flat = [int(numpy.prod(spatial[a + 1:])) for a in range(dims)]
    sampled = None
    for combo in itertools.product(*taps_per_axis):
        flat, weight = base, None
        for (index, wt), stride in zip(combo, strides_flat):
            flat = flat + index * stride
            weight = wt if weight is None else weight * wt
        values = np.reshape(np.take(rows, np.reshape(flat, (-1,)), axis=0), (n, offset_groups, k, p, per_group))
        term = values * np.expand_dims(weight, -1)
        sampled = term if sampled is None else sampled + term
    if mask is not None:
        sampled = sampled * np.expand_dims(np.reshape(cast(mask, dtype), (n, offset_groups, k, p)), -1)
    # im2col columns (N, C, K, P) -> per convolution group (N, groups, C/groups * K, P)
    cols = np.reshape(np.moveaxis(sampled, -1, 2), (n, groups, (c // groups) * k, p))
    weights = np.reshape(cast(w, dtype), (groups, w.shape[0] // groups, (c // groups) * k))
    out = np.reshape(np.matmul(weights, cols), (n, w.shape[0]) + tuple(out_spatial))
    if bias is not None:
        out = out + np.reshape(cast(bias, dtype), (1, -1) + (1,) * dims)
    return out
