"""String tensors, eagerly with NumPy. hybrid's IR types are fixed-width numbers that every backend keeps in
flat buffers, so a model that holds strings (a string input, initializer or Constant, or one of these ops)
runs op by op: its strings are NumPy object arrays of Python str, its numeric values hybrid arrays. Such a
model refuses to compile with an error that says so (OnnxBlock.hybridize); the ONNX backend runs it eagerly
and logs why."""
from __future__ import annotations

import re

import numpy
from onnx import TensorProto

from ...core.array import NDArray
from .base import OnnxNode, converts

STRING_OPS = ("StringNormalizer", "StringConcat", "StringSplit", "RegexFullMatch")


def is_strings(value) -> bool:
    return isinstance(value, numpy.ndarray) and value.dtype.kind in "OSU"


def as_strings(value) -> numpy.ndarray:
    """An array of str (bytes decoded as UTF-8), dtype object: how string tensors travel between ops."""
    value = numpy.asarray(value)
    out = numpy.empty(value.shape, object)
    flat = out.reshape(-1)
    for i, s in enumerate(value.reshape(-1)):
        flat[i] = s.decode("utf-8") if isinstance(s, bytes) else str(s)
    return out


def holds_strings(model) -> list[str]:
    """Where a model holds string tensors (empty when it holds none): graph inputs, initializers, Constant
    tensors and string ops, named for the error that refuses to compile the model."""
    graph = model.graph
    found = [f"input {v.name!r}" for v in graph.input if v.type.tensor_type.elem_type == TensorProto.STRING]
    found += [f"initializer {t.name!r}" for t in graph.initializer if t.data_type == TensorProto.STRING]
    for node in graph.node:
        constant = any(a.t.data_type == TensorProto.STRING for a in node.attribute if a.name == "value")
        if node.op_type in STRING_OPS or constant:
            found.append(f"{node.op_type} node {node.name!r}")
    return found


def _strings(node: OnnxNode, i: int) -> numpy.ndarray:
    value = node.input(i)
    if not is_strings(value):
        raise node.fail(f"input {i} must be a string tensor, got {getattr(value, 'dtype', type(value).__name__)}")
    return as_strings(value)


@converts("StringNormalizer")
def _string_normalizer(node: OnnxNode):
    """Drop the stopwords (exactly, or ignoring case), then change the case; [C] or [1, C] in, the kept
    strings out (one empty string when none is kept)."""
    x = _strings(node, 0)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[0] != 1):
        raise node.fail(f"the input must be [C] or [1, C], got shape {x.shape}")
    action = node.attr("case_change_action", "NONE")
    change = {"NONE": lambda s: s, "LOWER": str.lower, "UPPER": str.upper}.get(action)
    if change is None:
        raise node.fail(f"case_change_action must be NONE, LOWER or UPPER, got {action!r}")
    sensitive = bool(node.attr("is_case_sensitive", 0))
    fold = (lambda s: s) if sensitive else str.lower
    stops = {fold(s) for s in node.attr("stopwords", [])}
    kept = [change(s) for s in x.reshape(-1) if fold(s) not in stops] or [""]
    out = numpy.empty(len(kept), object)
    out[:] = kept
    return out.reshape((1, -1) if x.ndim == 2 else (-1,))


@converts("StringConcat")
def _string_concat(node: OnnxNode):
    x, y = numpy.broadcast_arrays(_strings(node, 0), _strings(node, 1))
    out = numpy.empty(x.shape, object)
    for i in numpy.ndindex(x.shape):
        out[i] = x[i] + y[i]
    return out


@converts("StringSplit")
def _string_split(node: OnnxNode):
    """Y: the pieces, padded with "" to the longest split along a new last axis; Z: the piece counts.
    No (or an empty) delimiter splits on runs of whitespace, as str.split() does."""
    x = _strings(node, 0)
    delimiter = node.attr("delimiter", "") or None
    maxsplit = node.attr("maxsplit", None)
    pieces = [s.split(delimiter, -1 if maxsplit is None else maxsplit) for s in x.reshape(-1)]
    width = max((len(p) for p in pieces), default=0)
    out = numpy.full((len(pieces), width), "", object)
    for i, p in enumerate(pieces):
        out[i, :len(p)] = p
    counts = numpy.array([len(p) for p in pieces], numpy.int64).reshape(x.shape)
    return out.reshape(x.shape + (width,)), NDArray(counts)


@converts("RegexFullMatch")
def _regex_full_match(node: OnnxNode):
    """Python's re for the pattern (ONNX specifies re2, whose syntax re accepts for the common cases)."""
    x = _strings(node, 0)
    pattern = node.attr("pattern")
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise node.fail(f"pattern {pattern!r} is not a valid regular expression ({e})") from None
    return NDArray(numpy.array([regex.fullmatch(s) is not None for s in x.reshape(-1)], bool).reshape(x.shape))


def strings_equal(node: OnnxNode):
    """Equal of two string tensors (broadcast): a bool hybrid array."""
    x, y = numpy.broadcast_arrays(_strings(node, 0), _strings(node, 1))
    return NDArray(numpy.array(x == y, bool))
