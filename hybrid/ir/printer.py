"""The IR text form, readable like a jaxpr:

  graph @mlp(%x: f32[256,784], param %fc1.weight: f32[1024,784]) -> f32[256,1024] {
    %0 = matmul(%x, %fc1.weight) {transpose_b=true} : f32[256,1024]  # model.py:12
    return %0
  }

Graph inputs print by name; node outputs are numbered in order. A node holding regions (a
fused kernel's body, cond's branches, a loop's cond and body) prints them nested between braces
after its types, each a graph in its own scope, like a jaxpr's sub-jaxprs. The trailing comment holds the user's
source line and, after `|`, pass annotations such as the memory plan.
"""
from __future__ import annotations

import base64
import json
import math

import numpy

from .graph import Graph, Value
from .types import TensorType, dtype_name

INLINE_ARRAY_LIMIT = 16  # larger constants print as base64 bytes, still exact


def format_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def format_attr(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (bool, numpy.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, numpy.integer)):
        return str(int(value))
    if isinstance(value, (float, numpy.floating)):
        return format_float(float(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, numpy.ndarray):
        t = TensorType.of(value)
        if value.ndim == 0:
            body = format_attr(value.item())
        elif value.size <= INLINE_ARRAY_LIMIT:
            items = value.reshape(-1).tolist()
            body = "[" + ", ".join(format_attr(v) for v in items) + "]"
        else:
            raw = numpy.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
            body = "b64" + json.dumps(base64.b64encode(raw).decode("ascii"))
        return f"dense<{t}: {body}>"
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} cannot be printed")


def _format_types(types) -> str:
    types = [str(t) for t in types]
    return types[0] if len(types) == 1 else "(" + ", ".join(types) + ")"


def print_graph(graph: Graph, indent: str = "") -> str:
    names = value_names(graph)
    lines = []
    params = graph.param_names
    args = ", ".join(f"{'param ' if v.name in params else ''}%{v.name}: {v.type}" for v in graph.inputs)
    lines.append(f"{indent}graph @{graph.name}({args}) -> {_format_types(v.type for v in graph.outputs)} {{")
    for node in graph.nodes:
        outs = ", ".join(f"%{names[v]}" for v in node.outputs)
        ins = ", ".join(f"%{names[v]}" for v in node.inputs)
        attrs = ", ".join(f"{k}={format_attr(v)}" for k, v in node.attrs.items())
        line = f"{indent}  {outs} = {node.op}({ins})"
        if attrs:
            line += f" {{{attrs}}}"
        line += " : " + ", ".join(str(v.type) for v in node.outputs)
        if node.regions:
            line += " {"
        comment = node.loc or ""
        if node.meta.get("group"):
            comment += f" | group {node.meta['group']}"
        if node.meta.get("plan"):
            comment += f" | {node.meta['plan']}"
        if comment:
            line += f"  # {comment}"
        lines.append(line)
        if node.regions:
            lines.extend(print_graph(region, indent + "    ") for region in node.regions)
            lines.append(f"{indent}  }}")
    lines.append(f"{indent}  return " + ", ".join(f"%{names[v]}" for v in graph.outputs))
    lines[-1] = lines[-1].rstrip()  # a graph with no results ends in a bare `return`
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def value_names(graph: Graph) -> dict[Value, str]:
    """The names the printer gives every value of `graph` (inputs by name, outputs numbered)."""
    names: dict[Value, str] = {v: v.name for v in graph.inputs}
    for node in graph.nodes:
        for v in node.outputs:
            names[v] = str(len(names) - len(graph.inputs))
    return names


__all__ = ["print_graph", "format_attr", "value_names", "dtype_name"]
