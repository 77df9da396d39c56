"""Sequence and optional values.

hybrid values are tensors, but an ONNX sequence has a length known when the graph is built (it is
made by SequenceConstruct / SplitToSequence / SequenceInsert of tensors, or passed in as a list), so
it is held as a Python list of arrays while the graph is built: each element is an ordinary traced
value, and the sequence ops rearrange the list. Positions (SequenceAt, SequenceInsert,
SequenceErase) must therefore be known at build time, like Reshape's shape. An optional value is
the value itself, or None when empty.
"""
from __future__ import annotations

import numpy

from ...frontend import np
from .base import OnnxNode, converts, normalize_axis
from .shape import const_array


def _sequence(node: OnnxNode, i: int) -> list:
    value = node.input(i)
    if not isinstance(value, list):
        raise node.fail(f"input {i} must be a sequence, got a tensor")
    return value


def _position(node: OnnxNode, i: int, length: int, default: int, inserting: bool = False) -> int:
    """A position in [-n, n - 1] (inserting: [-n, n]); negative ones count from the back."""
    pos = node.ints(i, [default])[0]
    if not -length <= pos < length + inserting:
        raise node.fail(f"position {pos} is out of range for a sequence of {length} tensors")
    return pos + length if pos < 0 else pos


converts("SequenceEmpty")(lambda node: [])
converts("SequenceConstruct")(lambda node: [x for x in node.inputs])
converts("SequenceLength")(lambda node: const_array(numpy.array(len(_sequence(node, 0)), numpy.int64)))


@converts("SequenceAt")
def _sequence_at(node: OnnxNode):
    seq = _sequence(node, 0)
    return seq[_position(node, 1, len(seq), 0)]


@converts("SequenceInsert")
def _sequence_insert(node: OnnxNode):
    seq = _sequence(node, 0)
    pos = _position(node, 2, len(seq), len(seq), inserting=True)
    return seq[:pos] + [node.input(1)] + seq[pos:]


@converts("SequenceErase")
def _sequence_erase(node: OnnxNode):
    seq = _sequence(node, 0)
    pos = _position(node, 1, len(seq), len(seq) - 1)
    return seq[:pos] + seq[pos + 1:]


@converts("ConcatFromSequence")
def _concat_from_sequence(node: OnnxNode):
    seq = _sequence(node, 0)
    if not seq:
        raise node.fail("cannot concatenate an empty sequence (its element shape is unknown)")
    new_axis = node.attr("new_axis", 0)
    axis = normalize_axis(node.attr("axis"), seq[0].ndim + new_axis, node)
    return np.stack(seq, axis=axis) if new_axis else np.concatenate(seq, axis=axis)


@converts("SplitToSequence")
def _split_to_sequence(node: OnnxNode):
    x = node.input(0)
    axis = normalize_axis(node.attr("axis", 0), x.ndim, node)
    length = x.shape[axis]
    split = node.const(1, None)
    if split is None:   # pieces of one, squeezed unless keepdims
        pieces = [x[(slice(None),) * axis + (slice(i, i + 1),)] for i in range(length)]
        return pieces if node.attr("keepdims", 1) else [np.squeeze(p, axis=axis) for p in pieces]
    split = numpy.asarray(split).reshape(-1) if numpy.ndim(split) else numpy.asarray(split)
    if split.ndim == 0:   # equal pieces of that size, the last one shorter
        size = int(split)
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    else:
        sizes = [int(s) for s in split]
    if sum(sizes) != length:
        raise node.fail(f"split sizes {sizes} do not add up to the axis length {length}")
    bounds = numpy.cumsum([0] + sizes)
    return [x[(slice(None),) * axis + (slice(int(a), int(b)),)] for a, b in zip(bounds[:-1], bounds[1:])]


@converts("SequenceMap")
def _sequence_map(node: OnnxNode):
    """Run the body once per element: sequence inputs give their i-th element, tensors themselves."""
    body = node.attr("body")
    seq = _sequence(node, 0)
    extra = node.inputs[1:]
    for value in extra:
        if isinstance(value, list) and len(value) != len(seq):
            raise node.fail(f"sequence inputs have different lengths ({len(seq)} and {len(value)})")
    outputs: list[list] = [[] for _ in body.output]
    for i in range(len(seq)):
        env = dict(node.env)
        values = [seq[i]] + [v[i] if isinstance(v, list) else v for v in extra]
        for value_info, value in zip(body.input, values):
            env[value_info.name] = value
        for out, value in zip(outputs, node.runner.run(body, env)):
            out.append(value)
    return tuple(outputs)


@converts("Optional")
def _optional(node: OnnxNode):
    return node.optional(0)


@converts("OptionalHasElement")
def _optional_has_element(node: OnnxNode):
    return const_array(numpy.array(node.optional(0) is not None))


@converts("OptionalGetElement")
def _optional_get_element(node: OnnxNode):
    value = node.optional(0)
    if value is None:
        raise node.fail("the optional value is empty")
    return value
