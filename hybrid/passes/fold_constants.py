"""Constant folding through the registry's NumPy references (the same code eager mode and the
interp backend run, so a folded value cannot differ from a computed one).

Stages:
  1. sweep the nodes in order; a node folds when every operand is a compile-time value: a
     `constant` node, or a parameter when `frozen` holds it (freeze=True only)
  2. evaluate it with OpDef.ref and replace it by a `constant` of its result type
  3. keep the node when folding would expand data (a result over FOLD_LIMIT elements that is
     larger than every operand, e.g. broadcast_to or iota: cheaper to compute than to store),
     or when the reference raises (the error then surfaces at run time, where it belongs)

Nodes holding regions are not evaluated here; their regions are folded on their own (a region
sees its operands as inputs, so constants reach it only once hoisted in by another pass).
Ops with effects are never evaluated either (a collective must run when the program runs).
"""
from __future__ import annotations

import numpy

from .. import log
from ..ir.graph import Graph
from ..ir.registry import get_op
from ..ir.types import to_numpy_dtype
from .manager import register_pass
from .rewrite import Rewriter, constant_value, in_regions

FOLD_LIMIT = 1 << 16


@register_pass("fold_constants")
def fold_constants(graph: Graph, frozen=None, **context) -> Graph:
    in_regions(graph, fold_constants)
    rw = Rewriter(graph)
    for node in rw.sweep():
        if node.op == "constant" or node.regions or get_op(node.op).effects:
            rw.keep(node)
            continue
        args = [constant_value(v, frozen) for v in node.inputs]
        if any(a is None for a in args):
            rw.keep(node)
            continue
        largest = max((a.size for a in args), default=0)
        if any(v.type.size > FOLD_LIMIT and v.type.size > largest for v in node.outputs):
            rw.keep(node)
            continue
        try:
            result = get_op(node.op).ref(*args, **node.attrs)
        except (ArithmeticError, ValueError, IndexError, TypeError) as e:
            log.log("compile", f"not folding {node.op} ({node.loc or 'no source line'}): {e}")
            rw.keep(node)
            continue
        results = result if isinstance(result, tuple) else (result,)
        for v, array in zip(node.outputs, results):
            # a copy: the reference may return a view of a frozen parameter the user can still change
            array = numpy.array(array, dtype=to_numpy_dtype(v.dtype)).reshape(v.shape)
            rw.replace(v, rw.constant(array, like=node))
    return rw.finish()
