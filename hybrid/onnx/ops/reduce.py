"""Reductions and ops along an axis: Reduce*, ArgMax/ArgMin, Softmax family, TopK, CumSum, Einsum."""
from __future__ import annotations

import math
import string

import numpy

from ...frontend import np, npx
from ...core.promote import cast
from ...ir.types import is_float
from .base import OnnxNode, converts, normalize_axis
from .shape import const_array

# the opset at which each reduction's `axes` moved from an attribute to an input
_AXES_INPUT_SINCE = {"ReduceSum": 13}


def _reduce_axes(node: OnnxNode, x):
    axes = node.attr_or_input("axes", 1, _AXES_INPUT_SINCE.get(node.op_type, 18))
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return None
        return tuple(range(x.ndim))
    return tuple(sorted(normalize_axis(a, x.ndim, node) for a in axes))


# the value of a reduction over no elements (ONNX defines it; the primitives refuse empty extrema)
_EMPTY = {"ReduceSum": 0, "ReduceMean": math.nan, "ReduceMax": -math.inf, "ReduceMin": math.inf, "ReduceProd": 1,
          "ReduceL1": 0, "ReduceL2": 0, "ReduceSumSquare": 0, "ReduceLogSum": -math.inf, "ReduceLogSumExp": -math.inf}


def _reduction(fn):
    def convert(node: OnnxNode):
        x = node.input(0)
        axes = _reduce_axes(node, x)
        if axes is None:
            return x
        keep = bool(node.attr("keepdims", 1))
        if any(x.shape[a] == 0 for a in axes):
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
            dtype = numpy.dtype(x.dtype)
            value = _EMPTY[node.op_type]
            if dtype.kind == "b":
                value = node.op_type == "ReduceMin"
            elif dtype.kind in "iu" and math.isinf(value):
                value = numpy.iinfo(dtype).max if value > 0 else numpy.iinfo(dtype).min
            return const_array(numpy.full(shape, value, dtype))
        return fn(x, axes, keep)
    return convert


def _log_sum_exp(x, axes, keep):
    peak = np.stop_gradient(np.max(x, axes, keepdims=True))
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.log(np.sum(np.exp(x - peak), axes, keepdims=True)) + peak
    return total if keep else np.squeeze(total, axes)


def _mean(x, axes, keep):
    total = np.sum(x, axes, keepdims=keep)
    count = math.prod(x.shape[a] for a in axes)
    return total / float(count) if is_float(x.type.dtype) else cast(total / float(count), x.type.dtype)


for _op, _fn in {"ReduceSum": lambda x, a, k: np.sum(x, a, keepdims=k),
                 "ReduceMean": _mean,
                 "ReduceMax": lambda x, a, k: np.max(x, a, keepdims=k),
                 "ReduceMin": lambda x, a, k: np.min(x, a, keepdims=k),
                 "ReduceProd": lambda x, a, k: np.prod(x, a, keepdims=k),
                 "ReduceL1": lambda x, a, k: np.sum(np.abs(x), a, keepdims=k),
                 "ReduceL2": lambda x, a, k: np.sqrt(np.sum(x * x, a, keepdims=k)),
                 "ReduceSumSquare": lambda x, a, k: np.sum(x * x, a, keepdims=k),
                 "ReduceLogSum": lambda x, a, k: np.log(np.sum(x, a, keepdims=k)),
                 "ReduceLogSumExp": _log_sum_exp}.items():
    converts(_op)(_reduction(_fn))


def _arg(node: OnnxNode, fn):
    x = node.input(0)
    axis = normalize_axis(node.attr("axis", 0), x.ndim, node)
    keep = bool(node.attr("keepdims", 1))
    if node.attr("select_last_index", 0):   # the first hit of the reversed axis, counted from the end
        flipped = fn(np.flip(x, axis), axis, keepdims=keep)
        return cast(x.shape[axis] - 1 - flipped, "i64")
    return cast(fn(x, axis, keepdims=keep), "i64")


converts("ArgMax")(lambda node: _arg(node, np.argmax))
converts("ArgMin")(lambda node: _arg(node, np.argmin))


def _softmax_like(node: OnnxNode, fn):
    """Opsets < 13 normalize over the flattened trailing axes from `axis` (default 1)."""
    x = node.input(0)
    if node.opset >= 13:
        return fn(x, normalize_axis(node.attr("axis", -1), x.ndim, node))
    axis = normalize_axis(node.attr("axis", 1), x.ndim, node)
    flat = np.reshape(x, (math.prod(x.shape[:axis]), -1))
    return np.reshape(fn(flat, 1), x.shape)


def _hardmax(x, axis):
    first = np.argmax(x, axis, keepdims=True)
    positions = np.reshape(np.arange(x.shape[axis], dtype=first.dtype), (-1,) + (1,) * (x.ndim - axis - 1))
    return cast(first == positions, x.type.dtype)


converts("Softmax")(lambda node: _softmax_like(node, npx.softmax))
converts("LogSoftmax")(lambda node: _softmax_like(node, npx.log_softmax))
converts("Hardmax")(lambda node: _softmax_like(node, _hardmax))


def rank_along(x, axis: int, descending: bool):
    """Each element's position in a stable sort along the last axis (x moved there already):
    the count of elements that sort before it. O(n^2) compares, which compile into fused kernels."""
    a = np.expand_dims(x, -1)   # [..., i, 1]
    b = np.expand_dims(x, -2)   # [..., 1, j]
    n = x.shape[-1]
    earlier = const_array(numpy.tri(n, n, -1, dtype=bool))   # [i, j]: j < i
    before = (b > a) if descending else (b < a)
    ties = np.logical_and(b == a, earlier)
    return np.sum(cast(np.logical_or(before, ties), "i32"), -1)


def sort_along(x, axis: int, k: int, descending: bool):
    """The first k values of a stable sort along axis and their indices (both moved back)."""
    moved = np.moveaxis(x, axis, -1)
    rank = rank_along(moved, -1, descending)
    slots = const_array(numpy.arange(k, dtype=numpy.int32))
    hit = np.expand_dims(rank, -1) == slots   # [..., i, slot]
    values = np.sum(np.where(hit, np.expand_dims(moved, -1), np.zeros((), moved.dtype)), -2)
    positions = const_array(numpy.arange(moved.shape[-1], dtype=numpy.int64).reshape(-1, 1))
    indices = np.sum(np.where(hit, positions, np.zeros((), "int64")), -2)
    return np.moveaxis(values, -1, axis), np.moveaxis(indices, -1, axis)


@converts("TopK")
def _topk(node: OnnxNode):
    x = node.input(0)
    axis = normalize_axis(node.attr("axis", -1), x.ndim, node)
    k = node.attr("k") if node.opset < 10 else node.ints(1)[0]
    return sort_along(x, axis, k, descending=bool(node.attr("largest", 1)))


@converts("CumSum")
def _cumsum(node: OnnxNode):
    """A matmul with a triangular 0/1 matrix along the axis (GEMM-fast, exact for the sums)."""
    x = node.input(0)
    axis = normalize_axis(int(node.const(1).reshape(-1)[0]), x.ndim, node)
    n = x.shape[axis]
    exclusive, reverse = node.attr("exclusive", 0), node.attr("reverse", 0)
    # weights[j, i] = 1 when element j contributes to output i
    j, i = numpy.meshgrid(numpy.arange(n), numpy.arange(n), indexing="ij")
    take = (j > i if exclusive else j >= i) if reverse else (j < i if exclusive else j <= i)
    compute = x.type.dtype if is_float(x.type.dtype) else "f64"
    moved = cast(np.moveaxis(x, axis, -1), compute)
    out = np.matmul(moved, const_array(take.astype(numpy.dtype(cast_name(compute)))))
    return np.moveaxis(cast(out, x.type.dtype), -1, axis)


def cast_name(dtype: str) -> str:
    return {"f16": "float16", "f32": "float32", "f64": "float64"}[dtype]


@converts("Einsum")
def _einsum(node: OnnxNode):
    """Broadcast every operand to the joint index space, multiply, and sum the contracted indices."""
    equation = node.attr("equation").replace(" ", "")
    xs = [x for x in node.inputs if x is not None]
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    spare = iter(c for c in string.ascii_letters if c not in equation)
    ellipsis = ""
    specs = []
    for term, x in zip(terms, xs):
        if "..." in term:
            n = x.ndim - (len(term) - 3)
            if len(ellipsis) < n:
                ellipsis = "".join(next(spare) for _ in range(n - len(ellipsis))) + ellipsis
            term = term.replace("...", ellipsis[len(ellipsis) - n:])
        specs.append(term)
    if not _:
        letters = "".join(sorted(c for c in set("".join(specs)) if "".join(specs).count(c) == 1 and c not in ellipsis))
        rhs = ellipsis + letters
    else:
        rhs = rhs.replace("...", ellipsis)
    every = "".join(dict.fromkeys("".join(specs) + rhs))
    sizes = {}
    aligned = []
    for spec, x in zip(specs, xs):
        x = _diagonals(x, spec)
        spec = "".join(dict.fromkeys(spec))
        for c, d in zip(spec, x.shape):
            sizes[c] = max(sizes.get(c, 1), d)
        order = [spec.index(c) for c in every if c in spec]
        x = np.transpose(x, order) if order != list(range(x.ndim)) else x
        shape = [x.shape[[c for c in every if c in spec].index(c)] if c in spec else 1 for c in every]
        aligned.append(np.reshape(x, shape))
    product = aligned[0]
    for x in aligned[1:]:
        product = product * x
    summed = tuple(i for i, c in enumerate(every) if c not in rhs)
    if summed:
        product = np.sum(product, summed)
    kept = [c for c in every if c in rhs]
    out = np.transpose(product, [kept.index(c) for c in rhs])
    return np.broadcast_to(out, tuple(sizes[c] for c in rhs))


def _diagonals(x, spec: str):
    """Take the diagonal for every index letter repeated within one operand (e.g. 'ii')."""
    while len(set(spec)) < len(spec):
        for c in spec:
            if spec.count(c) > 1:
                a, b = spec.index(c), spec.index(c, spec.index(c) + 1)
                n = x.shape[a]
                eye = numpy.eye(n, dtype=bool).reshape([n if i in (a, b) else 1 for i in range(x.ndim)])
                x = np.sum(np.where(const_array(eye), x, np.zeros((), x.dtype)), b)
                spec = spec[:b] + spec[b + 1:]
                break
    return x


@converts("CumProd")
def _cumprod(node: OnnxNode):
    """A running product: one multiply per position along the axis."""
    x = node.input(0)
    axis = normalize_axis(int(node.const(1).reshape(-1)[0]), x.ndim, node)
    exclusive, reverse = node.attr("exclusive", 0), node.attr("reverse", 0)
    parts = np.split(x, x.shape[axis], axis=axis)
    if reverse:
        parts = parts[::-1]
    running, outputs = None, []
    for part in parts:
        if exclusive:
            outputs.append(np.ones(part.shape, part.dtype) if running is None else running)
        running = part if running is None else running * part
        if not exclusive:
            outputs.append(running)
    if reverse:
        outputs = outputs[::-1]
    return np.concatenate(outputs, axis=axis)
