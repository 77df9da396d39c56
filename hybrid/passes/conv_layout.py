"""Channel-blocked layout between convolutions (NCHW[b]c, ir/ops/blocked.py).

A backend whose convolution kernel reads its input in a channel-blocked, padded layout (the LLVM
backend's direct convolution: blocks of one vector of channels) re-lays each input out on every call
(for ResNet-18's 64-channel layers about 8% of the convolution). When a convolution's input is the
(epilogue of the) result of another such convolution, the producer can store its result in that layout
directly (too). This pass makes that explicit in the graph:

    %h = relu(add(mul(conv2d(%x, %w1), ...)))             %h  = relu(add(mul(conv2d(%x, %w1), ...)))
    %y = conv2d(%h, %w2) {padding=[1, 1], ...}     ->     %hb = to_blocked(%h) {block=16, pad=[1, 1]}
                                                          %y  = conv2d_blocked(%hb, %w2) {stride, dilation}

Fusion then puts the to_blocked at the end of the producer's kernel (fuse.py), where the LLVM backend
stores the blocked image from the register tile (llvm/conv_rewrite.py); every other backend runs the
same graph through its ordinary lowering (to_blocked is an index map, conv2d_blocked an im2col GEMM).
Values are unchanged: to_blocked puts every element in a place of its own and zeros around them.

Stages:
  1. ask the backend's rule (context `conv_layout`: a conv2d node -> its block, or None when its kernel
     does not read a blocked input) for each ungrouped conv2d;
  2. keep those whose input is at least one block of channels and comes from a convolution the rule also
     blocks with the same block, through elementwise ops of the result's shape (the epilogue fusion puts in
     the producer's kernel). Other readers of the input (a residual add, pooling, a 1x1 convolution on
     im2col, the graph's outputs) keep reading it in NCHW: the producer then stores both layouts;
  3. rewrite each as above, with one to_blocked per value (the convolutions reading it with another
     padding keep NCHW). Without a rule (interp, CUDA) the graph is returned unchanged.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op
from .manager import register_pass
from .rewrite import Rewriter, in_regions

CONVOLUTIONS = ("conv2d", "conv2d_blocked")
EPILOGUE_DEPTH = 8      # elementwise ops between the producer and the value (bias, BatchNorm, activation)


def _from_convolution(v: Value, block: int, rule: Callable, depth: int = EPILOGUE_DEPTH) -> bool:
    """Whether `v` is the result of a convolution the rule blocks with `block`, possibly through an
    elementwise epilogue of the same shape."""
    p = v.producer
    if p is None or depth == 0:
        return False
    if p.op in CONVOLUTIONS:
        return rule(p) == block
    if get_op(p.op).kind != "elementwise":
        return False
    return any(u.shape == v.shape and _from_convolution(u, block, rule, depth - 1) for u in p.inputs)


def _blockable(node: Node, rule: Callable) -> Optional[int]:
    if node.op != "conv2d" or node.attrs["groups"] != 1:
        return None
    block = rule(node)
    x = node.inputs[0]
    if not block or node.inputs[1] is x or x.shape[1] < block:
        return None
    return block if _from_convolution(x, block, rule) else None


@register_pass("conv_layout")
def blocked_layout(graph: Graph, conv_layout: Optional[Callable[[Node], Optional[int]]] = None,
                   **context) -> Graph:
    if conv_layout is None:
        return graph
    in_regions(graph, blocked_layout, conv_layout=conv_layout)
    layout: dict[Value, tuple] = {}        # input value -> (block, padding) of its one blocked copy
    chosen: dict[Node, Value] = {}          # rewritten node -> its input (before the rewrite)
    for node in graph.nodes:
        block = _blockable(node, conv_layout)
        want = (block, tuple(node.attrs["padding"])) if block else None
        if want and layout.setdefault(node.inputs[0], want) == want:
            chosen[node] = node.inputs[0]
    copies: dict[Value, Value] = {}
    rw = Rewriter(graph)
    for node in rw.sweep():
        if node not in chosen:
            rw.keep(node)
            continue
        source = chosen[node]
        if source not in copies:
            block, pad = layout[source]
            copies[source] = rw.emit("to_blocked", [node.inputs[0]], {"block": block, "pad": pad}, like=node)
        attrs = {"stride": tuple(node.attrs["stride"]), "dilation": tuple(node.attrs["dilation"])}
        rw.replace(node.output, rw.emit("conv2d_blocked", [copies[source], node.inputs[1]], attrs, like=node))
    return rw.finish()
