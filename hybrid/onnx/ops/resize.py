"""Resize and Upsample: separable per axis, each axis one gather (nearest) or a weighted sum of
gathers (linear: 2 taps, cubic: 4 taps; antialiased downscaling: the kernel stretched by 1/scale) with
indices and weights computed at build time."""
from __future__ import annotations

import math

import numpy

from ...frontend import np
from ...core.promote import cast
from ...ir.types import is_float
from .base import OnnxNode, converts
from .shape import const_array


def _source_coords(out_size: int, in_size: int, scale: float, mode: str, roi=(0.0, 1.0)) -> numpy.ndarray:
    x = numpy.arange(out_size, dtype=numpy.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_size > 1 else numpy.zeros(out_size)
    if mode == "align_corners":   # ONNX divides by the scaled length, which need not be an integer
        length = in_size * scale
        return x * (in_size - 1) / (length - 1) if length > 1 else numpy.zeros(out_size)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out_size > 1:
            return start * (in_size - 1) + x * (end - start) * (in_size - 1) / (out_size - 1)
        return numpy.full(out_size, 0.5 * (start + end) * (in_size - 1))
    if mode == "half_pixel_symmetric":
        adjustment = out_size / (scale * in_size)
        center = in_size / 2
        offset = center * (1 - adjustment)
        return offset + (x + 0.5) / scale - 0.5
    raise ValueError(mode)


def _nearest(coords: numpy.ndarray, mode: str) -> numpy.ndarray:
    if mode == "round_prefer_floor":
        return numpy.where(coords - numpy.floor(coords) == 0.5, numpy.floor(coords), numpy.round(coords))
    if mode == "round_prefer_ceil":
        return numpy.floor(coords + 0.5)
    if mode == "floor":
        return numpy.floor(coords)
    if mode == "ceil":
        return numpy.ceil(coords)
    raise ValueError(mode)


def _keys_cubic(d: numpy.ndarray, a: float) -> numpy.ndarray:
    """Keys' cubic convolution kernel at distance d."""
    d = numpy.abs(d)
    return numpy.where(d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                       numpy.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0))


def _cubic_weights(t: numpy.ndarray, a: float) -> numpy.ndarray:
    """Keys' cubic convolution weights of the 4 taps at offsets -1, 0, 1, 2 around floor(coord)."""
    return numpy.stack([_keys_cubic(t + 1, a), _keys_cubic(t, a), _keys_cubic(1 - t, a), _keys_cubic(2 - t, a)], -1)


def _antialias_taps(coords: numpy.ndarray, mode: str, scale: float, a: float) -> tuple:
    """Taps and weights of the antialiased (downscaling) filter: the linear or cubic kernel stretched by
    1 / scale, so each output averages every input it covers; the taps are the n inputs nearest to the
    coordinate (an exact integer coordinate takes the window to its left), weights normalized to sum 1."""
    s = min(scale, 1.0)
    reach = 1.0 if mode != "cubic" else 2.0          # the kernel's support is [-reach, reach] before stretching
    start = int(math.floor(-reach / s)) + 1
    offsets = numpy.arange(start, 1 - start + 1)      # an even count, 2 - 2 * start, around the coordinate
    base = numpy.floor(coords)
    exact = coords == base
    base = numpy.where(exact, base - 1, base)
    t = coords - base                                 # in (0, 1]
    d = (offsets[None, :] - t[:, None]) * s
    weights = numpy.clip(1 - numpy.abs(d), 0, 1) if mode != "cubic" else _keys_cubic(d, a)
    weights = weights / weights.sum(-1, keepdims=True)
    return base[:, None].astype(numpy.int64) + offsets, weights


def _resize_axis(x, axis: int, out_size: int, scale: float, node: OnnxNode, roi):
    in_size = x.shape[axis]
    mode = node.attr("mode", "nearest")
    transform = node.attr("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize" else "asymmetric")
    if node.op_type == "Upsample" or node.opset < 11:
        transform = "asymmetric"
    coords = _source_coords(out_size, in_size, scale, transform, roi)
    extrapolation = node.attr("extrapolation_value", 0.0)
    outside = (coords < 0) | (coords > in_size - 1) if transform == "tf_crop_and_resize" else None
    antialias = bool(node.attr("antialias", 0)) and mode in ("linear", "bilinear", "cubic")
    if antialias:
        taps, weights = _antialias_taps(coords, mode, scale, node.attr("cubic_coeff_a", -0.75))
        if node.attr("exclude_outside", 0):
            weights = numpy.where((taps >= 0) & (taps < in_size), weights, 0.0)
            total = weights.sum(-1, keepdims=True)
            weights = weights / numpy.where(total == 0, 1.0, total)
        taps = numpy.clip(taps, 0, in_size - 1)
    elif mode == "nearest":
        near = node.attr("nearest_mode", "round_prefer_floor") if node.opset >= 11 else "floor"
        idx = numpy.clip(_nearest(coords, near), 0, in_size - 1).astype(numpy.int64)
        taps, weights = idx[:, None], numpy.ones((out_size, 1))
    elif mode in ("linear", "bilinear", "cubic"):
        base = numpy.floor(coords)
        t = coords - base
        offsets = numpy.array([0, 1]) if mode != "cubic" else numpy.array([-1, 0, 1, 2])
        weights = numpy.stack([1 - t, t], -1) if mode != "cubic" else _cubic_weights(t, node.attr("cubic_coeff_a", -0.75))
        taps = base[:, None].astype(numpy.int64) + offsets
        if mode == "cubic" and node.attr("exclude_outside", 0):
            inside = (taps >= 0) & (taps < in_size)
            weights = numpy.where(inside, weights, 0.0)
            weights = weights / weights.sum(-1, keepdims=True)
        if mode != "cubic":   # linear clamps the coordinate itself at the edges
            clamped = numpy.clip(coords, 0, in_size - 1)
            base = numpy.minimum(numpy.floor(clamped), max(in_size - 2, 0))
            t = clamped - base
            taps = base[:, None].astype(numpy.int64) + offsets
            weights = numpy.stack([1 - t, t], -1)
        taps = numpy.clip(taps, 0, in_size - 1)
    else:
        raise node.fail(f"resize mode {mode!r} is not one of nearest, linear, cubic")
    out = None
    for k in range(taps.shape[1]):
        part = np.take(x, const_array(taps[:, k]), axis=axis)
        if mode != "nearest":
            shape = [1] * x.ndim
            shape[axis] = out_size
            part = part * const_array(weights[:, k].reshape(shape).astype(x.dtype))
        out = part if out is None else out + part
    if outside is not None and outside.any():
        shape = [1] * x.ndim
        shape[axis] = out_size
        out = np.where(const_array(outside.reshape(shape)), float(extrapolation), out)
    return out


@converts("Resize", "Upsample")
def _resize(node: OnnxNode):
    x = node.input(0)
    float_in = is_float(x.type.dtype)
    if not float_in:
        x = cast(x, "f32")
    scales, sizes, roi = None, None, None
    if node.op_type == "Upsample" and node.opset < 9:
        scales = node.attr("scales")
    elif node.op_type == "Upsample":
        scales = list(node.const(1).reshape(-1))
    elif node.opset < 11:
        scales = list(node.const(1).reshape(-1))
    else:
        roi_value = node.const(1, None) if node.has(1) else None
        roi = None if roi_value is None or roi_value.size == 0 else list(roi_value.reshape(-1))
        scale_value = node.const(2, None) if node.has(2) else None
        scales = None if scale_value is None or scale_value.size == 0 else list(scale_value.reshape(-1))
        sizes = node.ints(3) if node.has(3) else None
    axes = list(node.attr("axes", range(x.ndim)))
    axes = [a % x.ndim for a in axes]
    n = len(axes)
    if sizes is not None:
        policy = node.attr("keep_aspect_ratio_policy", "stretch")
        in_sizes = [x.shape[a] for a in axes]
        scales = [s / i for s, i in zip(sizes, in_sizes)]
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            common = pick(scales)
            scales = [common] * n
            sizes = [int(math.floor(common * i + 0.5)) for i in in_sizes]
    else:
        if len(scales) != n:
            scales = [scales[a] for a in axes]
        sizes = [int(math.floor(x.shape[a] * s)) for a, s in zip(axes, scales)]
    full_roi = [0.0] * x.ndim + [1.0] * x.ndim
    if roi is not None:
        if len(roi) == 2 * x.ndim:
            full_roi = roi
        else:
            for j, a in enumerate(axes):
                full_roi[a], full_roi[a + x.ndim] = roi[j], roi[j + n]
    for a, size, scale in zip(axes, sizes, scales):
        if size != x.shape[a] or scale != 1.0 or node.attr("coordinate_transformation_mode", "") == "tf_crop_and_resize":
            x = _resize_axis(x, a, size, float(scale), node, (full_roi[a], full_roi[a + x.ndim]))
    return x if float_in else cast(x, node.input(0).type.dtype)
