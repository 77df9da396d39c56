"""Shape and layout ONNX ops: Shape, Reshape, Squeeze, Slice, Concat, Split, Pad, Tile, Expand, ..."""
from __future__ import annotations

import numpy

from ...frontend import np
from ...ir.types import to_numpy_dtype
from ...core.array import NDArray
from ...core.promote import cast
from .base import OnnxNode, converts, normalize_axis
from .dtypes import hybrid_dtype
from .strings import as_strings, is_strings
from .tensors import constant_value


def const_array(value) -> NDArray:
    return NDArray(numpy.array(value))


@converts("Shape")
def _shape(node: OnnxNode):
    shape = numpy.array(node.input(0).shape, numpy.int64)
    start, end = node.attr("start", 0), node.attr("end", None)
    return const_array(shape[start:end] if node.opset >= 15 else shape)


@converts("Size")
def _size(node: OnnxNode):
    return const_array(numpy.array(node.input(0).size, numpy.int64))


@converts("Constant")
def _constant(node: OnnxNode):
    if "value_string" in node.attrs or "value_strings" in node.attrs:
        return as_strings(numpy.array(node.attrs.get("value_string", node.attrs.get("value_strings")), object))
    value = constant_value(node)
    return as_strings(value) if is_strings(value) else const_array(value)


@converts("ConstantOfShape")
def _constant_of_shape(node: OnnxNode):
    fill = node.attrs.get("value")
    fill = numpy.zeros(1, numpy.float32) if fill is None else fill
    return const_array(numpy.full(node.ints(0), fill.reshape(-1)[0], fill.dtype))


@converts("Reshape")
def _reshape(node: OnnxNode):
    x = node.input(0)
    shape = node.attr("shape") if node.opset < 5 else node.ints(1)
    allowzero = node.attr("allowzero", 0)
    shape = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(shape)]
    return np.reshape(x, shape)


@converts("Flatten")
def _flatten(node: OnnxNode):
    x = node.input(0)
    axis = node.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    lead = int(numpy.prod(x.shape[:axis]))
    return np.reshape(x, (lead, int(numpy.prod(x.shape[axis:]))))


@converts("Squeeze")
def _squeeze(node: OnnxNode):
    x = node.input(0)
    axes = node.attr_or_input("axes", 1, 13)
    return np.squeeze(x, None if axes is None else tuple(normalize_axis(a, x.ndim, node) for a in axes))


@converts("Unsqueeze")
def _unsqueeze(node: OnnxNode):
    x = node.input(0)
    axes = node.attr_or_input("axes", 1, 13)
    ndim = x.ndim + len(axes)
    return np.expand_dims(x, tuple(normalize_axis(a, ndim, node) for a in axes))


@converts("Transpose")
def _transpose(node: OnnxNode):
    x = node.input(0)
    perm = node.attr("perm", None)
    return np.transpose(x, None if perm is None else tuple(perm))


@converts("Concat")
def _concat(node: OnnxNode):
    xs = [x for x in node.inputs if x is not None]
    axis = normalize_axis(node.attr("axis", 0 if node.opset < 4 else None), xs[0].ndim, node)
    xs = [x for x in xs if x.size or len(xs) == 1] if any(x.size for x in xs) else xs
    return np.concatenate(xs, axis=axis)


@converts("Split")
def _split(node: OnnxNode):
    x = node.input(0)
    axis = normalize_axis(node.attr("axis", 0), x.ndim, node)
    sizes = node.attr_or_input("split", 1, 13)
    if sizes is None:
        parts = node.attr("num_outputs", node.num_outputs)
        step = -(-x.shape[axis] // parts)   # ceil: opset 18's uneven split puts the remainder last
        sizes = [min(step, x.shape[axis] - i * step) for i in range(parts)]
    return tuple(np.split(x, list(numpy.cumsum(sizes)[:-1]), axis=axis))


@converts("Slice")
def _slice(node: OnnxNode):
    x = node.input(0)
    if node.opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = node.ints(1), node.ints(2)
        axes = node.ints(3, list(range(len(starts))))
        steps = node.ints(4, [1] * len(starts))
    key = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        key[normalize_axis(a, x.ndim, node)] = slice(s, e, st)   # ONNX clamps bounds as Python slicing does
    return x[tuple(key)]


@converts("Pad")
def _pad(node: OnnxNode):
    x = node.input(0)
    mode = node.attr("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if node.opset < 11:
        pads, value = node.attr("pads" if node.opset >= 2 else "paddings"), node.attr("value", 0.0)
        axes = list(range(x.ndim))
    else:
        pads = node.ints(1)
        value = node.const(2, numpy.zeros(())).reshape(-1)
        value = value[0] if value.size else 0
        axes = [normalize_axis(a, x.ndim, node) for a in node.ints(3, list(range(x.ndim)))]
    n = len(axes)
    widths = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + n])
    return pad_array(x, widths, mode, value, node)


def pad_array(x, widths, mode: str, value, node: OnnxNode):
    """ONNX Pad: negative widths crop; constant / reflect / edge / wrap modes per axis."""
    crop = tuple(slice(-lo if lo < 0 else 0, x.shape[a] + hi if hi < 0 else None) for a, (lo, hi) in enumerate(widths))
    x = x[crop]
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(x, widths, constant_values=float(value)) if any(lo or hi for lo, hi in widths) else x
    for axis, (lo, hi) in enumerate(widths):
        if not (lo or hi):
            continue
        size = x.shape[axis]
        if mode == "reflect":
            index = [abs(i) if i < 0 else 2 * (size - 1) - i if i >= size else i for i in range(-lo, size + hi)]
        elif mode == "edge":
            index = [min(max(i, 0), size - 1) for i in range(-lo, size + hi)]
        elif mode == "wrap":
            index = [i % size for i in range(-lo, size + hi)]
        else:
            raise node.fail(f"pad mode {mode!r} is not one of constant, reflect, edge, wrap")
        x = np.take(x, const_array(numpy.array(index, numpy.int64)), axis=axis)
    return x


@converts("Tile")
def _tile(node: OnnxNode):
    return np.tile(node.input(0), node.ints(1))


@converts("Expand")
def _expand(node: OnnxNode):
    x = node.input(0)
    shape = tuple(numpy.broadcast_shapes(x.shape, tuple(node.ints(1))))
    return np.broadcast_to(x, shape)


@converts("Range")
def _range(node: OnnxNode):
    start, limit, delta = (node.const(i).reshape(()) for i in range(3))
    return const_array(numpy.arange(start, limit, delta, dtype=start.dtype))


@converts("EyeLike")
def _eye_like(node: OnnxNode):
    x = node.input(0)
    dtype = hybrid_dtype(node.attr("dtype")) if "dtype" in node.attrs else x.type.dtype
    return cast(const_array(numpy.eye(x.shape[0], x.shape[1], node.attr("k", 0))), dtype)


@converts("Trilu")
def _trilu(node: OnnxNode):
    x = node.input(0)
    k = int(node.const(1, numpy.zeros(())).reshape(-1)[0]) if node.has(1) else 0
    return np.triu(x, k) if node.attr("upper", 1) else np.tril(x, k)


@converts("DepthToSpace")
def _depth_to_space(node: OnnxNode):
    x = node.input(0)
    b, c, h, w = x.shape
    bs = node.attr("blocksize")
    if node.attr("mode", "DCR") in ("CRD", b"CRD"):
        t = np.transpose(np.reshape(x, (b, c // bs ** 2, bs, bs, h, w)), (0, 1, 4, 2, 5, 3))
    else:
        t = np.transpose(np.reshape(x, (b, bs, bs, c // bs ** 2, h, w)), (0, 3, 4, 1, 5, 2))
    return np.reshape(t, (b, c // bs ** 2, h * bs, w * bs))


@converts("SpaceToDepth")
def _space_to_depth(node: OnnxNode):
    x = node.input(0)
    b, c, h, w = x.shape
    bs = node.attr("blocksize")
    perm = (0, 1, 3, 5, 2, 4) if node.attr("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
    t = np.transpose(np.reshape(x, (b, c, h // bs, bs, w // bs, bs)), perm)
    return np.reshape(t, (b, c * bs * bs, h // bs, w // bs))


@converts("CenterCropPad")
def _center_crop_pad(node: OnnxNode):
    x = node.input(0)
    target = node.ints(1)
    axes = [normalize_axis(a, x.ndim, node) for a in node.attr("axes", list(range(x.ndim)))]
    for axis, size in zip(axes, target):
        have = x.shape[axis]
        if size < have:
            start = (have - size) // 2
            key = [slice(None)] * x.ndim
            key[axis] = slice(start, start + size)
            x = x[tuple(key)]
        elif size > have:
            widths = [(0, 0)] * x.ndim
            widths[axis] = ((size - have) // 2, size - have - (size - have) // 2)
            x = np.pad(x, widths)
    return x


def _window(node: OnnxNode, a0: float, a1: float, a2: float = 0.0):
    """Generalized cosine windows: a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic)
    or size - 1 (symmetric)."""
    size = int(node.const(0).reshape(-1)[0])
    denom = size if node.attr("periodic", 1) else size - 1
    n = numpy.arange(size, dtype=numpy.float64)
    w = a0 - a1 * numpy.cos(2 * numpy.pi * n / denom) + a2 * numpy.cos(4 * numpy.pi * n / denom)
    return const_array(w.astype(to_numpy_dtype(hybrid_dtype(node.attr("output_datatype", 1), node))))


converts("HannWindow")(lambda node: _window(node, 0.5, 0.5))
converts("HammingWindow")(lambda node: _window(node, 25.0 / 46.0, 21.0 / 46.0))
converts("BlackmanWindow")(lambda node: _window(node, 0.42, 0.5, 0.08))
