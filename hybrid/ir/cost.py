"""The work an op does: floating-point operations and the bytes it must move at least.

The profiler divides these by measured times (FLOP/s, GB/s, fraction of the host's peak), the same
numbers for an eager op and for the compiled kernel of a graph node. Counts are the textbook ones:
a multiply-add is 2 FLOPs, an elementwise op or a reduction step 1 per element; layout ops move
data and compute nothing. Bytes are every operand read once and every result written once (a
fused kernel's intermediates stay in registers, so they count for nothing).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

from .registry import get_op
from .types import TensorType


def _macs_conv(op: str, inputs: Sequence[TensorType], output: TensorType) -> int:
    """Multiply-adds of conv2d and its two gradients: each pairs every element of the convolution's
    result y (output of conv2d, operand 0 of the input gradient, operand 1 of the weight gradient)
    with one input channel group's kh * kw window of weights."""
    if op in ("conv2d", "conv2d_blocked"):
        y, w = output, inputs[1]
    elif op == "conv2d_input_grad":
        y, w = inputs[0], inputs[1]
    else:
        y, w = inputs[1], output
    return y.size * math.prod(w.shape[1:])


def op_flops(op: str, inputs: Sequence[TensorType], outputs: Sequence[TensorType], attrs: dict,
             body=None) -> int:
    """FLOPs of one application of `op` (a fused node: the sum over its body graph)."""
    if body is not None:
        return sum(node_flops(n) for n in body.nodes)
    kind = get_op(op).kind if op != "fused" else "other"
    if kind == "matmul":
        a, b = inputs
        k = a.shape[-2] if attrs.get("transpose_a") else a.shape[-1]
        return 2 * outputs[0].size * k
    if kind == "conv":
        return 2 * _macs_conv(op, inputs, outputs[0])
    if kind == "pool":
        kh, kw = attrs.get("kernel", (1, 1))
        windows = outputs[0].size if not op.endswith("_grad") else inputs[-1].size
        return windows * kh * kw
    if kind == "elementwise":
        return outputs[0].size
    if kind == "reduce":
        return inputs[0].size
    return 0


def op_bytes(inputs: Sequence[TensorType], outputs: Sequence[TensorType]) -> int:
    """Bytes read and written by one application: every operand once, every result once."""
    return sum(t.nbytes for t in inputs) + sum(t.nbytes for t in outputs)


def node_flops(node) -> int:
    """FLOPs of a graph node (constants: none)."""
    if node.op == "constant":
        return 0
    if node.regions and node.op != "fused":   # control flow: its regions once (a scan: once per step)
        per_run = sum(node_flops(n) for region in node.regions for n in region.nodes)
        return per_run * node.attrs.get("length", 1)
    return op_flops(node.op, [v.type for v in node.inputs], [v.type for v in node.outputs], node.attrs,
                    node.regions[0] if node.regions else None)


def node_bytes(node) -> int:
    return op_bytes([v.type for v in node.inputs], [v.type for v in node.outputs])


def node_label(node) -> str:
    """A short name for profiles: the op, or a fused kernel's ops joined by '+' (constants left out)."""
    if node.op != "fused":
        return node.op
    ops: list[str] = []
    for n in node.regions[0].nodes:
        if n.op != "constant" and n.op not in ops:
            ops.append(n.op)
    return "+".join(ops) or node.op


def describe_shapes(types: Sequence[TensorType], limit: Optional[int] = 4) -> str:
    """'f32[8,64,56,56], f32[64,64,3,3]': the operand types a profile row shows."""
    shown = [str(t) for t in types[:limit]]
    return ", ".join(shown) + (", ..." if limit is not None and len(types) > limit else "")
