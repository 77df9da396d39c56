"""The converter table: ONNX op type -> a function that builds the op from hb.np / hb.npx calls.

A converter receives one `OnnxNode` (attributes, inputs as hybrid arrays, the opset in force)
and returns its outputs. Because it only calls frontend functions, the same code runs eagerly,
under tracing (the imported model compiles on any backend) and under autograd (it trains).
Inputs an op needs as numbers at build time (a Reshape's shape, a Slice's bounds) are read with
`const`: they are known whenever they come from initializers, Constant nodes or Shape of a
static-shaped value, which eager ops fold as the graph is built.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy

from ...errors import HybridError
from ...core.array import Array, NDArray, Tracer

Converter = Callable[["OnnxNode"], Any]
CONVERTERS: dict[str, Converter] = {}
_REQUIRED = object()


class OnnxImportError(HybridError):
    """An ONNX model hybrid cannot build: an unsupported op, attribute or data type."""


class StaticInputNeeded(OnnxImportError):
    """A graph input is used where a number must be known at build time (a Reshape's shape fed as an
    input): the block then treats that input's value as part of the compiled signature."""

    def __init__(self, message: str, input_name: str):
        super().__init__(message)
        self.input_name = input_name


def converts(*op_types: str):
    """Register a converter for one or more ONNX op types (standard domain)."""
    def wrap(fn: Converter) -> Converter:
        for op_type in op_types:
            if op_type in CONVERTERS:
                raise ValueError(f"ONNX op {op_type} has two converters")
            CONVERTERS[op_type] = fn
        return fn
    return wrap


def supported_ops() -> list[str]:
    return sorted(CONVERTERS)


class OnnxNode:
    """One ONNX node as a converter sees it."""

    def __init__(self, op_type: str, name: str, opset: int, attrs: dict[str, Any],
                 inputs: Sequence[Optional[Array]], num_outputs: int, statics: Sequence[Optional[NDArray]] = (),
                 runner: Any = None, env: Optional[dict] = None, input_names: Sequence[str] = (),
                 input_types: Sequence[Optional[int]] = (), graph: Any = None):
        self.op_type, self.name, self.opset = op_type, name, opset
        self.attrs, self.inputs, self.num_outputs = attrs, list(inputs), num_outputs
        # eager values of inputs that are parameters: read when an op needs them as numbers (Resize scales)
        self.statics = list(statics) + [None] * (len(self.inputs) - len(statics))
        self.runner, self.env = runner, env   # for ops with subgraphs (If, Loop)
        self.graph = graph   # the ONNX GraphProto holding the node (Gradient reads its sub-graph)
        self.input_names = list(input_names)
        # ONNX element types of inputs carried in a wider dtype (see narrow.py), None for the others;
        # a converter producing such a value records its type in output_types[k]
        self.input_types = list(input_types) + [None] * (len(self.inputs) - len(input_types))
        self.output_types: dict[int, int] = {}

    def describe(self) -> str:
        return f"{self.op_type} node {self.name!r} (opset {self.opset})"

    def fail(self, message: str) -> OnnxImportError:
        return OnnxImportError(f"{self.describe()}: {message}")

    def attr(self, name: str, default: Any = _REQUIRED) -> Any:
        if name in self.attrs:
            return self.attrs[name]
        if default is _REQUIRED:
            raise self.fail(f"the attribute {name!r} is required")
        return default

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def input(self, i: int) -> Array:
        if not self.has(i):
            raise self.fail(f"input {i} is required")
        return self.inputs[i]

    def optional(self, i: int) -> Optional[Array]:
        return self.inputs[i] if self.has(i) else None

    def const(self, i: int, default: Any = _REQUIRED) -> Any:
        """Input i as a NumPy array: it must be known while the graph is built."""
        if not self.has(i):
            if default is _REQUIRED:
                raise self.fail(f"input {i} is required")
            return default
        value = self.inputs[i]
        if isinstance(value, Tracer) and self.statics[i] is not None:
            value = self.statics[i]
        if isinstance(value, Tracer):
            name = self.input_names[i] if i < len(self.input_names) else ""
            raise StaticInputNeeded(f"{self.describe()}: input {i} ({name!r}) must be known when the model is built "
                                    "(it sets an output shape), but it is computed from the model's inputs; hybrid "
                                    "compiles static shapes only", name)
        return value.asnumpy() if isinstance(value, NDArray) else numpy.asarray(value)

    def ints(self, i: int, default: Any = _REQUIRED) -> Any:
        value = self.const(i, default)
        return value if value is default else [int(v) for v in numpy.asarray(value).reshape(-1)]

    def attr_or_input(self, name: str, i: int, since: int, default: Any = None) -> Any:
        """A value that moved from an attribute to input i at opset `since` (as integers)."""
        if self.opset < since:
            value = self.attrs.get(name, default)
            return None if value is None else list(value) if isinstance(value, (list, tuple)) else value
        return self.ints(i, default)


def normalize_axis(axis: int, ndim: int, node: OnnxNode) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise node.fail(f"axis {axis} is out of range for a {ndim}-d input")
    return axis % max(ndim, 1)
