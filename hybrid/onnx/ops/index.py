"""Gather / scatter ONNX ops, OneHot, and the ops whose output shape depends on data."""
from __future__ import annotations

import math

import numpy

from ...frontend import np
from ...core.array import NDArray
from ...core.dispatch import bind
from ...core.promote import cast
from .base import OnnxNode, converts, normalize_axis
from .shape import const_array


def wrap_indices(idx, size: int):
    """ONNX indices may count from the end; hybrid's take wants [0, size)."""
    idx = cast(idx, "i64") if idx.type.dtype != "i64" else idx
    return np.where(idx < 0, idx + size, idx)


@converts("Gather")
def _gather(node: OnnxNode):
    x, idx = node.input(0), node.input(1)
    axis = normalize_axis(node.attr("axis", 0), x.ndim, node)
    return np.take(x, wrap_indices(idx, x.shape[axis]), axis=axis)


def _flat_index(idx, axis: int, shape_of_data):
    """Linear indices into the flattened data for GatherElements/ScatterElements: idx replaces the
    coordinate along `axis`, every other coordinate is the element's own position."""
    strides = numpy.cumprod((list(shape_of_data[1:]) + [1])[::-1])[::-1]
    flat = None
    for d in range(len(idx.shape)):
        if d == axis:
            part = idx * int(strides[d])
        else:
            pos = numpy.arange(idx.shape[d], dtype=numpy.int64).reshape([-1 if i == d else 1 for i in range(idx.ndim)])
            part = const_array(pos * int(strides[d]))
        flat = part if flat is None else flat + part
    return flat


@converts("GatherElements")
def _gather_elements(node: OnnxNode):
    x, idx = node.input(0), node.input(1)
    axis = normalize_axis(node.attr("axis", 0), x.ndim, node)
    flat = _flat_index(wrap_indices(idx, x.shape[axis]), axis, x.shape)
    return np.take(np.reshape(x, (-1,)), flat, axis=0)


def _nd_index(node: OnnxNode, x, idx, batch_dims: int):
    """(flat data (B, rest...), linear index (B, n...)) for GatherND/ScatterND."""
    depth = idx.shape[-1]
    lead = x.shape[:batch_dims]
    b = math.prod(lead)
    inner = x.shape[batch_dims:batch_dims + depth]
    rest = x.shape[batch_dims + depth:]
    strides = numpy.cumprod((list(inner[1:]) + [1])[::-1])[::-1]
    idx = np.reshape(idx, (b, -1, depth))
    linear = None
    for j in range(depth):
        part = wrap_indices(idx[:, :, j], inner[j]) * int(strides[j])
        linear = part if linear is None else linear + part
    data = np.reshape(x, (b, math.prod(inner)) + rest)
    return data, linear, lead, rest


@converts("GatherND")
def _gather_nd(node: OnnxNode):
    x, idx = node.input(0), node.input(1)
    batch_dims = node.attr("batch_dims", 0)
    data, linear, lead, rest = _nd_index(node, x, idx, batch_dims)
    b, inner = data.shape[0], data.shape[1]
    # one flat take: batch row r's element i is at r * inner + i
    offsets = const_array(numpy.arange(b, dtype=numpy.int64).reshape(-1, 1) * inner)
    flat = np.reshape(data, (b * inner,) + rest)
    picked = np.take(flat, linear + offsets, axis=0)
    return np.reshape(picked, tuple(idx.shape[:-1]) + rest)


def _combine_repeats(flat_index, updates, combine):
    """Updates that name the same row combined into one: sorted by index (stably), an inclusive scan within
    each run of equal indices (log2(n) shifted combines), and the run's last element, which holds its total.
    Returns (indices, totals, last-of-run mask); every backend runs it compiled, as a scatter-add cannot max."""
    order = np.argsort(flat_index)
    idx, vals = np.take(flat_index, order, axis=0), np.take(updates, order, axis=0)
    n, rest = idx.shape[0], [(0, 0)] * (updates.ndim - 1)
    step = 1
    while step < n:
        same = np.pad(idx[:-step], [(step, 0)], constant_values=-1) == idx
        earlier = np.pad(vals[:-step], [(step, 0)] + rest)
        vals = np.where(np.reshape(same, (n,) + (1,) * len(rest)), combine(vals, earlier), vals)
        step *= 2
    last = np.pad(idx[1:] != idx[:-1], [(0, 1)], constant_values=True)
    return idx, vals, last


def _scatter(data, flat_index, updates, reduction: str, node: OnnxNode):
    """Scatter `updates` (one row per flat index) into the flattened `data` (rows x rest)."""
    size = data.shape[0]
    if reduction in ("add", "none"):
        added = bind("take_grad", updates, flat_index, axis=0, size=size)
        if reduction == "add":
            return data + added
        hit = bind("take_grad", np.ones(updates.shape, updates.dtype), flat_index, axis=0, size=size) > 0
        return np.where(hit, added, data)   # ONNX requires distinct indices here
    combine = {"max": np.maximum, "min": np.minimum, "mul": np.multiply}.get(reduction)
    if combine is None:
        raise node.fail(f"unknown reduction {reduction!r}; use none, add, mul, max or min")
    if flat_index.shape[0] == 0:
        return data
    idx, totals, last = _combine_repeats(flat_index, updates, combine)
    keep = np.reshape(last, last.shape + (1,) * (updates.ndim - 1))
    placed = bind("take_grad", np.where(keep, totals, np.zeros_like(totals)), idx, axis=0, size=size)
    hit = bind("take_grad", np.broadcast_to(keep, totals.shape).astype(updates.dtype), idx, axis=0, size=size) > 0
    return np.where(hit, combine(data, placed), data)


@converts("ScatterElements", "Scatter")
def _scatter_elements(node: OnnxNode):
    x, idx, updates = node.input(0), node.input(1), node.input(2)
    axis = normalize_axis(node.attr("axis", 0), x.ndim, node)
    flat = np.reshape(_flat_index(wrap_indices(idx, x.shape[axis]), axis, x.shape), (-1,))
    out = _scatter(np.reshape(x, (-1,)), flat, np.reshape(updates, (-1,)), node.attr("reduction", "none"), node)
    return np.reshape(out, x.shape)


@converts("ScatterND")
def _scatter_nd(node: OnnxNode):
    x, idx, updates = node.input(0), node.input(1), node.input(2)
    data, linear, lead, rest = _nd_index(node, x, idx, 0)
    flat = np.reshape(linear, (-1,))
    rows = np.reshape(updates, (flat.shape[0],) + rest)
    out = _scatter(np.reshape(data, data.shape[1:]), flat, rows, node.attr("reduction", "none"), node)
    return np.reshape(out, x.shape)


@converts("OneHot")
def _one_hot(node: OnnxNode):
    idx, values = node.input(0), node.input(2)
    depth = int(node.const(1).reshape(-1)[0])
    axis = node.attr("axis", -1)
    idx = cast(idx, "i64")
    idx = np.where(idx < 0, idx + depth, idx)
    ndim = idx.ndim + 1
    axis = normalize_axis(axis, ndim, node)
    classes = const_array(numpy.arange(depth, dtype=numpy.int64).reshape([-1 if i == axis else 1 for i in range(ndim)]))
    hit = np.expand_dims(idx, axis) == classes
    return np.where(hit, values[1], values[0])


# -- data-dependent output shapes: eager only -----------------------------------------------------------------
def _eager(node: OnnxNode, i: int) -> numpy.ndarray:
    """Input i as NumPy: these ops' output shapes depend on values, so they cannot be compiled."""
    value = node.inputs[i]
    if not isinstance(value, NDArray):
        raise node.fail("the output shape depends on the input values, which hybrid cannot compile; run the "
                        "model eagerly (do not hybridize it) or feed this op constant inputs")
    return value.asnumpy()


@converts("NonZero")
def _nonzero(node: OnnxNode):
    return const_array(numpy.array(numpy.nonzero(_eager(node, 0)), numpy.int64))


@converts("Compress")
def _compress(node: OnnxNode):
    x = node.input(0)
    keep = numpy.nonzero(_eager(node, 1))[0]
    axis = node.attr("axis", None)
    if axis is None:
        return np.take(np.reshape(x, (-1,)), const_array(keep.astype(numpy.int64)), axis=0)
    return np.take(x, const_array(keep.astype(numpy.int64)), axis=normalize_axis(axis, x.ndim, node))


@converts("Unique")
def _unique(node: OnnxNode):
    x = _eager(node, 0)
    axis = node.attr("axis", None)
    values, first, inverse, counts = numpy.unique(x, return_index=True, return_inverse=True, return_counts=True,
                                                  axis=axis)
    if not node.attr("sorted", 1):   # order of first occurrence
        order = numpy.argsort(first, kind="stable")
        values = numpy.take(values, order, axis=0 if axis is None else axis)
        remap = numpy.empty_like(order)
        remap[order] = numpy.arange(order.size)
        first, counts, inverse = first[order], counts[order], remap[inverse.reshape(-1)]
    outputs = (values, first, inverse.reshape(-1), counts)
    return tuple(const_array(v if i == 0 else numpy.asarray(v, numpy.int64)) for i, v in enumerate(outputs))


@converts("NonMaxSuppression")
def _non_max_suppression(node: OnnxNode):
    boxes, scores = _eager(node, 0), _eager(node, 1)
    limit = int(node.const(2, numpy.zeros(1)).reshape(-1)[0]) if node.has(2) else 0
    iou_limit = float(node.const(3).reshape(-1)[0]) if node.has(3) else 0.0
    score_limit = float(node.const(4).reshape(-1)[0]) if node.has(4) else -numpy.inf
    center = node.attr("center_point_box", 0)
    picked = []
    for b in range(boxes.shape[0]):
        corners = _corners(boxes[b], center)
        for c in range(scores.shape[1]):
            picked += [(b, c, i) for i in _suppress(corners, scores[b, c], limit, iou_limit, score_limit)]
    return const_array(numpy.array(picked, numpy.int64).reshape(-1, 3))


def _corners(boxes: numpy.ndarray, center: int) -> numpy.ndarray:
    if center:
        x, y, w, h = boxes.T
        return numpy.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], 1)
    y1, x1, y2, x2 = boxes.T
    return numpy.stack([numpy.minimum(y1, y2), numpy.minimum(x1, x2), numpy.maximum(y1, y2), numpy.maximum(x1, x2)], 1)


def _suppress(corners, scores, limit, iou_limit, score_limit) -> list[int]:
    order = [i for i in numpy.argsort(-scores, kind="stable") if scores[i] > score_limit]
    kept: list[int] = []
    area = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    for i in order:
        if limit and len(kept) >= limit:
            break
        ok = True
        for j in kept:
            hi = numpy.minimum(corners[i, 2:], corners[j, 2:])
            lo = numpy.maximum(corners[i, :2], corners[j, :2])
            inter = numpy.prod(numpy.maximum(hi - lo, 0))
            union = area[i] + area[j] - inter
            if union > 0 and inter / union > iou_limit:
                ok = False
                break
        if ok:
            kept.append(int(i))
    return kept


@converts("ReverseSequence")
def _reverse_sequence(node: OnnxNode):
    """Reverse the first length[b] steps of every sequence: one gather along the time axis."""
    x = node.input(0)
    lengths = node.ints(1)
    time_axis, batch_axis = node.attr("time_axis", 0), node.attr("batch_axis", 1)
    steps = x.shape[time_axis]
    order = numpy.array([[n - 1 - t if t < n else t for t in range(steps)] for n in lengths], numpy.int64)  # [b, t]
    if time_axis < batch_axis:
        order = order.T
    shape = [1] * x.ndim
    shape[batch_axis], shape[time_axis] = x.shape[batch_axis], steps
    index = numpy.broadcast_to(order.reshape(shape), x.shape)
    flat = _flat_index(const_array(numpy.ascontiguousarray(index)), time_axis, x.shape)
    return np.reshape(np.take(np.reshape(x, (-1,)), flat, axis=0), x.shape)
