"""hybrid IR -> ONNX. Each primitive maps to one or a few standard ONNX ops; fused kernels are
exported as the primitives in their bodies; parameters become initializers. The model is
checked with onnx.checker before it is written."""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import numpy
import onnx
from onnx import helper, numpy_helper

from ..core import autograd
from ..frontend.api import trace
from ..core.array import NDArray
from ..frontend.block import HybridBlock
from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op
from ..ir.types import to_numpy_dtype
from .ops.base import OnnxImportError
from .ops.dtypes import HYBRID_TO_ONNX

DEFAULT_OPSET = 17
MIN_EXPORT_OPSET = 13   # axes of ReduceSum and Split sizes as inputs, Squeeze/Unsqueeze axes as inputs


class OnnxExportError(OnnxImportError):
    """A hybrid graph that has no ONNX form (an op without a mapping)."""


class _Builder:
    """Accumulates ONNX nodes and initializers; names every hybrid Value once."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: dict[int, str] = {}
        self.counter = 0

    def fresh(self, hint: str = "t") -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def name(self, value: Value) -> str:
        return self.names[id(value)]

    def const(self, array, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(numpy.asarray(array), name))
        return name

    def ints(self, values, hint: str = "c") -> str:
        return self.const(numpy.asarray(list(values), numpy.int64), hint)

    def add(self, op_type: str, inputs: Sequence[str], outputs: Optional[Sequence[str]] = None, **attrs) -> str:
        outputs = list(outputs) if outputs is not None else [self.fresh(op_type.lower())]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, **attrs))
        return outputs[0]


Emit = Callable[[_Builder, Node, list, str], None]
EMITTERS: dict[str, Emit] = {}


def emits(*ops: str):
    def wrap(fn: Emit) -> Emit:
        for op in ops:
            EMITTERS[op] = fn
        return fn
    return wrap


_SAME_NAME = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
              "minimum": "Min", "neg": "Neg", "abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
              "tanh": "Tanh", "erf": "Erf", "sin": "Sin", "cos": "Cos", "floor": "Floor", "ceil": "Ceil",
              "round": "Round", "sign": "Sign", "sigmoid": "Sigmoid", "relu": "Relu", "eq": "Equal", "lt": "Less",
              "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual", "logical_and": "And",
              "logical_or": "Or", "logical_not": "Not", "where": "Where", "stop_gradient": "Identity",
              "concat": "Concat", "transpose": "Transpose"}


def _emit_same(b: _Builder, node: Node, ins: list, out: str) -> None:
    attrs = {}
    if node.op == "concat":
        attrs["axis"] = node.attrs["axis"]
    if node.op == "transpose":
        attrs["perm"] = list(node.attrs["perm"])
    b.add(_SAME_NAME[node.op], ins, [out], **attrs)


for _op in _SAME_NAME:
    EMITTERS[_op] = _emit_same


@emits("ne")
def _ne(b, node, ins, out):
    b.add("Not", [b.add("Equal", ins)], [out])


@emits("rsqrt")
def _rsqrt(b, node, ins, out):
    b.add("Reciprocal", [b.add("Sqrt", ins)], [out])


@emits("mod")
def _mod(b, node, ins, out):
    """hybrid's mod is NumPy's (the divisor's sign); ONNX Mod does that for integers only."""
    if node.inputs[0].dtype in ("f16", "f32", "f64"):
        quotient = b.add("Floor", [b.add("Div", ins)])
        b.add("Sub", [ins[0], b.add("Mul", [quotient, ins[1]])], [out])
    else:
        b.add("Mod", ins, [out], fmod=0)


@emits("cast")
def _cast(b, node, ins, out):
    b.add("Cast", ins, [out], to=HYBRID_TO_ONNX[node.attrs["dtype"]])


@emits("bitcast")
def _bitcast(b, node, ins, out):
    if b.opset < 26:
        raise OnnxExportError(f"hybrid's bitcast (at {node.loc or 'unknown line'}) is ONNX BitCast, new in opset 26; "
                              f"export with opset=26 or later (asked for {b.opset})")
    b.add("BitCast", ins, [out], to=HYBRID_TO_ONNX[node.attrs["dtype"]])


def _reduce_with_axes(b: _Builder, op_type: str, axes, keepdims: bool, ins, out, axes_input_since: int) -> None:
    if b.opset >= axes_input_since:
        b.add(op_type, [ins[0], b.ints(axes)], [out], keepdims=int(keepdims))
    else:
        b.add(op_type, ins, [out], axes=list(axes), keepdims=int(keepdims))


@emits("sum", "max", "min", "prod")
def _reduce(b, node, ins, out):
    op_type = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd"}[node.op]
    axes = node.attrs["axes"]
    if not axes:   # an empty axes list means "all axes" in ONNX: hybrid's means "none"
        b.add("Identity", ins, [out])
        return
    _reduce_with_axes(b, op_type, axes, node.attrs["keepdims"], ins, out, 13 if node.op == "sum" else 18)


@emits("argmax")
def _argmax(b, node, ins, out):
    index = b.add("ArgMax", ins, axis=node.attrs["axis"], keepdims=int(node.attrs["keepdims"]))
    b.add("Cast", [index], [out], to=HYBRID_TO_ONNX[node.outputs[0].dtype])


@emits("argsort")
def _argsort(b, node, ins, out):
    """TopK of the whole last axis, smallest first: ONNX orders equal values by index, as argsort."""
    n = node.inputs[0].shape[-1]
    b.add("TopK", [ins[0], b.ints([n])], [b.fresh("sorted"), out], axis=-1, largest=0, sorted=1)


@emits("reshape")
def _reshape(b, node, ins, out):
    b.add("Reshape", [ins[0], b.ints(node.attrs["shape"])], [out])


@emits("broadcast_to")
def _broadcast(b, node, ins, out):
    b.add("Expand", [ins[0], b.ints(node.attrs["shape"])], [out])


@emits("slice")
def _slice(b, node, ins, out):
    begin, end, step = node.attrs["begin"], node.attrs["end"], node.attrs["step"]
    b.add("Slice", [ins[0], b.ints(begin), b.ints(end), b.ints(range(len(begin))), b.ints(step)], [out])


@emits("pad")
def _pad(b, node, ins, out):
    pads = node.attrs["pads"]
    onnx_pads = list(pads[0::2]) + list(pads[1::2])
    value = b.const(numpy.array(node.attrs["value"], to_numpy_dtype(node.inputs[0].dtype)))
    b.add("Pad", [ins[0], b.ints(onnx_pads), value], [out], mode="constant")


@emits("take")
def _take(b, node, ins, out):
    b.add("Gather", ins, [out], axis=node.attrs["axis"])


@emits("matmul")
def _matmul(b, node, ins, out):
    ins = list(ins)
    for i, flag in enumerate(("transpose_a", "transpose_b")):
        if node.attrs.get(flag):
            nd = node.inputs[i].type.ndim
            perm = list(range(nd - 2)) + [nd - 1, nd - 2]
            ins[i] = b.add("Transpose", [ins[i]], perm=perm)
    b.add("MatMul", ins, [out])


def _conv_attrs(node: Node) -> dict:
    ph, pw = node.attrs["padding"]
    return {"strides": list(node.attrs["stride"]), "pads": [ph, pw, ph, pw],
            "dilations": list(node.attrs["dilation"]), "group": node.attrs["groups"]}


@emits("conv2d")
def _conv(b, node, ins, out):
    kernel = list(node.inputs[1].shape[2:])
    b.add("Conv", ins, [out], kernel_shape=kernel, **_conv_attrs(node))


@emits("conv2d_input_grad")
def _conv_transpose(b, node, ins, out):
    """The input-gradient of a convolution is ONNX's ConvTranspose with the same weight layout."""
    attrs = _conv_attrs(node)
    attrs["output_shape"] = list(node.attrs["input_shape"][2:])
    b.add("ConvTranspose", ins, [out], kernel_shape=list(node.inputs[1].shape[2:]), **attrs)


@emits("max_pool2d", "avg_pool2d")
def _pool(b, node, ins, out):
    ph, pw = node.attrs["padding"]
    attrs = {"kernel_shape": list(node.attrs["kernel"]), "strides": list(node.attrs["stride"]), "pads": [ph, pw, ph, pw]}
    if node.op == "avg_pool2d":
        b.add("AveragePool", ins, [out], count_include_pad=int(node.attrs["count_include_pad"]), **attrs)
    else:
        b.add("MaxPool", ins, [out], **attrs)


def _export_nodes(b: _Builder, graph: Graph) -> None:
    for node in graph.nodes:
        if node.op == "fused":
            body = node.regions[0]
            for inner, outer in zip(body.inputs, node.inputs):
                b.names[id(inner)] = b.name(outer)
            _export_nodes(b, body)
            for inner, outer in zip(body.outputs, node.outputs):
                b.names[id(outer)] = b.name(inner)
            continue
        if node.op in ("constant", "iota"):
            value = get_op(node.op).ref(**node.attrs)
            for v in node.outputs:
                b.names[id(v)] = b.const(value, node.op)
            continue
        emit = EMITTERS.get(node.op)
        if emit is None:
            raise OnnxExportError(f"hybrid op {node.op!r} (at {node.loc or 'unknown line'}) has no ONNX form; ops that "
                                  f"export: {', '.join(sorted(EMITTERS))}")
        out = b.fresh(node.op)
        emit(b, node, [b.name(v) for v in node.inputs], out)
        b.names[id(node.outputs[0])] = out


def _value_info(name: str, value: Value):
    return helper.make_tensor_value_info(name, HYBRID_TO_ONNX[value.dtype], list(value.shape))


def graph_to_onnx(graph: Graph, params: dict[str, numpy.ndarray], opset: int = DEFAULT_OPSET,
                  input_names: Optional[Sequence[str]] = None,
                  output_names: Optional[Sequence[str]] = None) -> onnx.ModelProto:
    """An ONNX model of a hybrid graph (traced or optimized) with the given parameter values."""
    if not MIN_EXPORT_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset {opset} is outside what hybrid exports ({MIN_EXPORT_OPSET} .. "
                         f"{onnx.defs.onnx_opset_version()})")
    b = _Builder(opset)
    data = graph.data_inputs
    input_names = list(input_names) if input_names else [v.name for v in data]
    for v, name in zip(data, input_names):
        b.names[id(v)] = name
    for v in graph.params:
        b.names[id(v)] = v.name
        b.initializers.append(numpy_helper.from_array(numpy.asarray(params[v.name]), v.name))
    _export_nodes(b, graph)
    output_names = list(output_names) if output_names else [f"output_{i}" for i in range(len(graph.outputs))]
    for v, name in zip(graph.outputs, output_names):
        b.add("Identity", [b.name(v)], [name])
    onnx_graph = helper.make_graph(b.nodes, graph.name, [_value_info(n, v) for v, n in zip(data, input_names)],
                                   [_value_info(n, v) for v, n in zip(graph.outputs, output_names)], b.initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="hybrid")
    onnx.checker.check_model(model, full_check=True)
    return model


def export_model(block_or_graph, example_inputs: Sequence = (), path: Optional[str] = None,
                 opset: int = DEFAULT_OPSET, params: Optional[dict] = None) -> onnx.ModelProto:
    """Export a block (traced on `example_inputs`, inference mode) or a Graph (with `params`) to ONNX;
    writes `path` when given and returns the checked ModelProto."""
    if isinstance(block_or_graph, Graph):
        graph = block_or_graph
        params = dict(params or {})
        missing = [v.name for v in graph.params if v.name not in params]
        if missing:
            raise ValueError(f"export_model of a Graph needs values for its parameters: {', '.join(missing)}")
    elif isinstance(block_or_graph, HybridBlock):
        examples = [NDArray(numpy.asarray(x)) if isinstance(x, numpy.ndarray) else x for x in example_inputs]
        with autograd.pause(train_mode=False):
            graph = trace(block_or_graph, *examples)
        values = block_or_graph.collect_params()
        params = {v.name: values[v.name]._data_eager().asnumpy() for v in graph.params}
    else:
        raise TypeError(f"export_model takes a HybridBlock or an ir.Graph, got {type(block_or_graph).__name__}")
    model = graph_to_onnx(graph, params, opset)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        onnx.save(model, path)
    return model
