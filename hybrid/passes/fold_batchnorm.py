"""BatchNorm folding (inference, freeze=True): fold a per-output-channel scale into the weights
of the convolution or dense layer before it.

The frontend's inference batch_norm is the composite x * scale + shift per channel; after
constant folding under freeze both are constants. Stages:
  1. find mul(P, C) (or mul(C, P)) where P is conv2d(x, W) or matmul(x, W) read only by this mul,
     W is a compile-time constant (a frozen parameter) and C is a constant that varies only along
     P's output-channel axis (axis 1 of conv2d, the last axis of matmul); also
     mul(add(P, B), C) with a per-channel constant bias B, rewritten as P*C + B*C
  2. compute W' = W * C along W's output-channel axis with the registry's mul reference
  3. replace the mul by conv2d(x, W') / matmul(x, W') (+ B*C); the shift add that follows stays
     and becomes the kernel's epilogue after fusion
Without frozen parameters nothing fires (weights are not constants then).
"""
from __future__ import annotations

from typing import Optional

import numpy

from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op
from .manager import register_pass
from .rewrite import Rewriter, constant_value


def _channel_scale(c: numpy.ndarray, out_shape: tuple, axis: int) -> Optional[numpy.ndarray]:
    """C as a vector over the channel axis of a result of `out_shape`, if it varies only there."""
    if c.ndim > len(out_shape):
        return None
    padded = (1,) * (len(out_shape) - c.ndim) + c.shape
    channels = out_shape[axis]
    if any(d != 1 for i, d in enumerate(padded) if i != axis) or padded[axis] not in (1, channels):
        return None
    return numpy.broadcast_to(c.reshape(-1), (channels,))


def _layer(v: Value, frozen) -> Optional[tuple]:
    """(node, weight array, channel axis of the result) when v comes from conv2d/matmul with a constant weight."""
    p = v.producer
    if p is None or p.op not in ("conv2d", "matmul"):
        return None
    w = constant_value(p.inputs[1], frozen)
    if w is None:
        return None
    return p, w, (1 if p.op == "conv2d" else v.type.ndim - 1)


def _scaled_weight(node: Node, w: numpy.ndarray, scale: numpy.ndarray) -> numpy.ndarray:
    if node.op == "conv2d":
        shaped = scale.reshape(-1, 1, 1, 1)                     # O, C/groups, KH, KW
    elif node.attrs.get("transpose_b"):
        shaped = scale.reshape(-1, 1)                           # ..., N, K
    else:
        shaped = scale.reshape(1, -1)                           # ..., K, N
    return get_op("mul").ref(w, shaped.astype(w.dtype))


def _fold(rw: Rewriter, node: Node, users: dict, frozen) -> Optional[Value]:
    if node.op != "mul":
        return None
    for here, other in ((0, 1), (1, 0)):
        c = constant_value(node.inputs[other], frozen)
        v = node.inputs[here]
        if c is None or len(users.get(v, ())) != 1:
            continue
        bias = None
        if v.producer is not None and v.producer.op == "add" and _layer(v.producer.inputs[0], frozen):
            bias_value = v.producer.inputs[1]
            bias = constant_value(bias_value, frozen)
            v = v.producer.inputs[0]
            if bias is None or len(users.get(v, ())) != 1:
                continue
        layer = _layer(v, frozen)
        if layer is None:
            continue
        p, w, axis = layer
        scale = _channel_scale(c, v.shape, axis)
        if scale is None or (bias is not None and _channel_scale(bias, v.shape, axis) is None):
            continue
        weight = rw.constant(_scaled_weight(p, w, scale), like=p)
        out = rw.emit(p.op, [p.inputs[0], weight], p.attrs, like=p)
        if bias is not None:
            out = rw.emit("add", [out, rw.constant(get_op("mul").ref(bias, c), like=node)], like=node)
        return out
    return None


@register_pass("fold_batchnorm")
def fold_batchnorm(graph: Graph, frozen=None, **context) -> Graph:
    if not frozen:
        return graph
    users = graph.users()
    for v in graph.outputs:  # a returned value has a reader outside the graph
        users.setdefault(v, []).append(None)
    rw = Rewriter(graph)
    for node in rw.sweep():
        result = _fold(rw, node, users, frozen)
        if result is None:
            rw.keep(node)
        else:
            rw.replace(node.output, result)
    return rw.finish()
