"""npx activations and normalizations beyond the basic set (MXNet's LeakyReLU family,
instance/group normalization, pixel shuffle, reflection padding) and the detection ops (SSD anchor
boxes, region-of-interest pooling), composed from primitives."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy

from ..errors import ShapeError
from . import np
from ..core.array import Array
from ..core.promote import asarray, promote

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _per_channel(v, ndim: int) -> Array:
    """A (C,) vector shaped to broadcast along axis 1 of an ndim array (a scalar stays 0-d)."""
    v = asarray(v)
    if v.ndim == 0 or v.size == 1:
        return np.reshape(v, ())
    return np.reshape(v, (1, v.shape[0]) + (1,) * (ndim - 2))


def elu(x, alpha: float = 1.0) -> Array:
    (x,) = promote(x, to_float=True)
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)) * alpha)


def selu(x) -> Array:
    return elu(x, SELU_ALPHA) * SELU_SCALE


def leaky_relu(data, gamma=None, act_type: str = "leaky", slope: float = 0.25, lower_bound: float = 0.125,
               upper_bound: float = 0.334) -> Array:
    """MXNet's LeakyReLU operator: act_type 'leaky' (slope), 'prelu' (learned per-channel
    `gamma`), 'elu' (slope is alpha), 'selu', 'gelu', or 'rrelu' (random slope in
    [lower_bound, upper_bound] while training, their mean otherwise)."""
    (x,) = promote(data, to_float=True)
    if act_type == "leaky":
        return np.where(x < 0, x * slope, x)
    if act_type == "prelu":
        if gamma is None:
            raise ValueError("leaky_relu(act_type='prelu') needs the learned slopes `gamma`")
        return np.where(x < 0, x * _per_channel(gamma, x.ndim), x)
    if act_type == "elu":
        return elu(x, slope)
    if act_type == "selu":
        return selu(x)
    if act_type == "gelu":
        from .npx import gelu
        return gelu(x)
    if act_type == "rrelu":
        from ..core.autograd import is_training
        if is_training():
            slopes = np.random.uniform(lower_bound, upper_bound, size=x.shape, dtype=x.dtype)
            return np.where(x < 0, x * slopes, x)
        return np.where(x < 0, x * ((lower_bound + upper_bound) / 2), x)
    raise ValueError(f"leaky_relu: unknown act_type {act_type!r}; use leaky, prelu, elu, selu, gelu or rrelu")


def log_sigmoid(x) -> Array:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    (x,) = promote(x, to_float=True)
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def mish(x) -> Array:
    """x * tanh(softplus(x))."""
    (x,) = promote(x, to_float=True)
    return x * np.tanh(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))


def _normalize(x: Array, axes: tuple[int, ...], eps: float) -> Array:
    mean = np.mean(x, axes, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axes, keepdims=True)
    return centered / np.sqrt(var + eps)


def instance_norm(data, gamma, beta, eps: float = 1e-3, axis: int = 1) -> Array:
    """Normalize each sample's each channel over its spatial positions, then scale/shift per channel."""
    (x,) = promote(data, to_float=True)
    axis = axis % x.ndim
    if x.ndim < 3:
        raise ShapeError(f"instance_norm expects (N, C, *spatial) input, got shape {x.shape}")
    out = _normalize(x, tuple(i for i in range(1, x.ndim) if i != axis), eps)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return out * np.reshape(asarray(gamma), shape) + np.reshape(asarray(beta), shape)


def group_norm(data, gamma, beta, num_groups: int = 1, eps: float = 1e-5) -> Array:
    """Split the channels (axis 1) into num_groups groups; normalize each sample's group over its
    channels and positions; scale/shift per channel."""
    (x,) = promote(data, to_float=True)
    n, c = x.shape[:2]
    if c % num_groups:
        raise ShapeError(f"group_norm: {c} channels do not split into {num_groups} groups")
    grouped = np.reshape(x, (n, num_groups, -1))
    out = np.reshape(_normalize(grouped, (2,), eps), x.shape)
    return out * _per_channel(gamma, x.ndim) + _per_channel(beta, x.ndim)


def reflection_pad(x, widths: Sequence[tuple[int, int]]) -> Array:
    """Pad each axis by mirroring its interior (not repeating the edge), like NumPy's 'reflect'."""
    x = asarray(x)
    for axis, (before, after) in enumerate(widths):
        if before == 0 and after == 0:
            continue
        size = x.shape[axis]
        if before >= size or after >= size:
            raise ShapeError(f"reflection pad of {before, after} needs more than that many elements on axis {axis}, "
                             f"got {size} (shape {x.shape})")
        begin, end = [0] * x.ndim, list(x.shape)
        parts = []
        if before:
            begin[axis], end[axis] = 1, before + 1
            parts.append(np.flip(np.slice(x, begin, end), axis))
        parts.append(x)
        if after:
            begin[axis], end[axis] = size - after - 1, size - 1
            parts.append(np.flip(np.slice(x, begin, end), axis))
        x = np.concatenate(parts, axis)
    return x


def pixel_shuffle(x, factors: Sequence[int]) -> Array:
    """(N, C * prod(f), *S) -> (N, C, *(S_i * f_i)): channel blocks become spatial sub-positions."""
    x = asarray(x)
    rank = len(factors)
    if x.ndim != rank + 2:
        raise ShapeError(f"pixel_shuffle with {rank} factors expects a {rank + 2}-d input, got shape {x.shape}")
    n, c = x.shape[:2]
    block = math.prod(factors)
    if c % block:
        raise ShapeError(f"pixel_shuffle: {c} channels are not a multiple of the factors' product {block}")
    spatial = tuple(x.shape[2:])
    y = np.reshape(x, (n, c // block) + tuple(factors) + spatial)
    # interleave: (N, C, S_1, f_1, S_2, f_2, ...)
    order = (0, 1) + tuple(a for i in range(rank) for a in (2 + rank + i, 2 + i))
    return np.reshape(np.transpose(y, order), (n, c // block) + tuple(s * f for s, f in zip(spatial, factors)))


__all__ = ["elu", "selu", "leaky_relu", "log_sigmoid", "mish", "instance_norm", "group_norm", "reflection_pad",
           "pixel_shuffle"]


def _round_half_away(x: Array) -> Array:
    """C's round(): halves go away from zero (np.round rounds them to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _bin_edges(start: Array, end: Array, bins: int, limit: int) -> tuple[Array, Array]:
    """(R, bins) first and one-past-last feature rows (or columns) of each bin of each region: the region
    [start, end] (inclusive, at least one cell) is cut into `bins` equal real-valued parts whose edges are
    floored / ceiled, then clipped to [0, limit]."""
    size = np.maximum(end - start + 1.0, 1.0)
    step = np.reshape(size / float(bins), (-1, 1))
    k = np.reshape(np.arange(bins, dtype="float32"), (1, -1))
    first = np.floor(k * step) + np.reshape(start, (-1, 1))
    last = np.ceil((k + 1.0) * step) + np.reshape(start, (-1, 1))
    return np.clip(first, 0.0, float(limit)), np.clip(last, 0.0, float(limit))


def roi_pooling(data, rois, pooled_size, spatial_scale: float) -> Array:
    """MXNet's ROIPooling (Fast R-CNN): region r = rois[r] = [batch index, x1, y1, x2, y2] in input-image
    coordinates is scaled by `spatial_scale` onto the (N, C, H, W) feature map and rounded, cut into
    pooled_size (ph, pw) bins, and each bin gives its maximum (0 for a bin that covers no cell).
    Returns (R, C, ph, pw). Bins are rectangles, so the maximum is taken over columns, then rows, which
    keeps the intermediate at (R, C, H, pw) instead of one mask per bin and cell."""
    data, rois = asarray(data), asarray(rois)
    if data.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 5:
        raise ShapeError(f"roi_pooling: data must be (N, C, H, W) and rois (R, 5) rows of [batch index, x1, y1, "
                         f"x2, y2], got data {data.shape} and rois {rois.shape}")
    ph, pw = (pooled_size, pooled_size) if isinstance(pooled_size, int) else tuple(int(s) for s in pooled_size)
    n, _, height, width = data.shape
    from .npx import checked_indices
    batch = checked_indices(np.astype(rois[:, 0], "int32"), n, "roi_pooling batch index")
    corners = _round_half_away(np.astype(rois[:, 1:], "float32") * float(spatial_scale))
    row_first, row_last = _bin_edges(corners[:, 1], corners[:, 3], ph, height)     # (R, ph)
    col_first, col_last = _bin_edges(corners[:, 0], corners[:, 2], pw, width)      # (R, pw)
    rows, cols = np.arange(height, dtype="float32"), np.arange(width, dtype="float32")
    in_rows = (rows >= row_first[:, :, None]) & (rows < row_last[:, :, None])      # (R, ph, H)
    in_cols = (cols >= col_first[:, :, None]) & (cols < col_last[:, :, None])      # (R, pw, W)
    features = np.take(data, batch, axis=0)                                        # (R, C, H, W)
    lowest = -np.inf if np.issubdtype(features.dtype, np.floating) else np.iinfo(features.dtype).min
    over_cols = np.max(np.where(in_cols[:, None, None], features[:, :, :, None, :], lowest), axis=-1)   # (R,C,H,pw)
    over_rows = np.max(np.where(in_rows[:, None, :, :, None], over_cols[:, :, None], lowest), axis=3)   # (R,C,ph,pw)
    empty = (row_last <= row_first)[:, :, None] | (col_last <= col_first)[:, None, :]                   # (R,ph,pw)
    return np.where(empty[:, None], np.zeros((), features.dtype), over_rows)


def multibox_prior(data, sizes=(1.0,), ratios=(1.0,), clip: bool = False, steps=(-1.0, -1.0),
                   offsets=(0.5, 0.5)) -> Array:
    """MXNet's MultiBoxPrior (SSD anchor boxes) for an (N, C, H, W) feature map: at each cell centre
    ((row + offsets[0]) * steps[0], (col + offsets[1]) * steps[1]) in [0, 1] image coordinates (steps of
    -1 mean 1/H and 1/W), one box per size with the first ratio, then one per further ratio with the first
    size; a box of size s and ratio r is s * sqrt(r) * H / W wide and s / sqrt(r) high. Returns
    (1, H * W * (len(sizes) + len(ratios) - 1), 4) corners (xmin, ymin, xmax, ymax), clipped to [0, 1]
    when `clip`. Only the map's shape matters, so the result is a constant of the data's float dtype."""
    data = asarray(data)
    if data.ndim != 4:
        raise ShapeError(f"multibox_prior: data must be an (N, C, H, W) feature map, got shape {data.shape}")
    sizes, ratios = [float(s) for s in numpy.atleast_1d(sizes)], [float(r) for r in numpy.atleast_1d(ratios)]
    if not sizes or not ratios or min(sizes) <= 0 or min(ratios) <= 0:
        raise ValueError(f"multibox_prior: sizes and ratios must be non-empty and positive, got sizes={sizes}, "
                         f"ratios={ratios}")
    height, width = data.shape[2:]
    step_y, step_x = (1.0 / height if steps[0] <= 0 else steps[0]), (1.0 / width if steps[1] <= 0 else steps[1])
    shapes = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
    half_w = numpy.array([s * math.sqrt(r) * height / width / 2 for s, r in shapes], numpy.float32)
    half_h = numpy.array([s / math.sqrt(r) / 2 for s, r in shapes], numpy.float32)
    cy = ((numpy.arange(height, dtype=numpy.float32) + offsets[0]) * step_y)[:, None, None]
    cx = ((numpy.arange(width, dtype=numpy.float32) + offsets[1]) * step_x)[None, :, None]
    cy, cx = numpy.broadcast_arrays(cy, cx, half_w[None, None, :])[:2]
    boxes = numpy.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1).reshape(1, -1, 4)
    if clip:
        boxes = numpy.clip(boxes, 0.0, 1.0)
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else numpy.float32
    return np.array(boxes, dtype=dtype)
