"""Ops that hold regions: `fused` kernels and structured control flow (cond, while_loop, scan).

Every region is a self-contained Graph: the values it reads from outside arrive as its inputs
(the node passes them as operands), like a jaxpr's sub-jaxprs. Each op's `infer` checks the
regions' signatures against the operands and gives the result types; its `ref` runs the regions
through `run(graph, arrays)`, so the interp backend and constant folding share one semantics.

  fused(*xs) {kind, name}                       body(*xs) -> results
  cond(index, *xs)                              branch_k(*xs) -> results, for k = clip(index, 0, n-1)
                                                (lax.switch; `cond(pred)` has branches [false, true])
  while_loop(*carry, *consts) {num_carry}       cond(*carry, *consts) -> bool[]
                                                body(*carry, *consts) -> carry
                                                results: the carry when cond first fails
  scan(*carry, *xs, *consts) {num_carry, num_xs, length, reverse}
                                                body(*carry, *x_t, *consts) -> (*carry, *y_t)
                                                results: the final carry, then each y stacked
                                                along a new leading axis of `length`; x_t is
                                                step t of each xs along its leading axis
                                                (reverse=true walks t = length-1 .. 0)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy

from ..errors import ShapeError
from .registry import OpDef, register
from .types import TensorType, to_numpy_dtype

Run = Callable[..., list]


def _types(values) -> list[TensorType]:
    return [v.type for v in values]


def _signature(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in types) + ")"


def _expect(what: str, got: Sequence[TensorType], want: Sequence[TensorType]) -> None:
    if list(got) != list(want):
        raise ShapeError(f"{what} is {_signature(got)} but must be {_signature(want)}")


# -- fused ------------------------------------------------------------------------------------
def _fused_infer(types, regions, kind=None, name=None):
    if len(regions) != 1:
        raise ShapeError(f"a fused kernel holds one body, got {len(regions)} regions")
    body = regions[0]
    _expect("the body's parameter list", _types(body.inputs), types)
    return _types(body.outputs)


def _fused_ref(run: Run, regions, *xs, kind=None, name=None):
    return tuple(run(regions[0], list(xs)))


# -- cond -------------------------------------------------------------------------------------
def _cond_infer(types, regions):
    if len(regions) < 2:
        raise ShapeError(f"cond needs at least two branches, got {len(regions)}")
    if not types or types[0].shape != () or types[0].dtype not in ("i32", "bool"):
        raise ShapeError(f"cond's first operand is the branch index, an i32[] or bool[] scalar; got "
                         f"{types[0] if types else 'nothing'}")
    results = _types(regions[0].outputs)
    for k, branch in enumerate(regions):
        _expect(f"branch {k}'s parameter list", _types(branch.inputs), types[1:])
        _expect(f"branch {k}'s results", _types(branch.outputs), results)
    return results


def branch_index(index, num_branches: int) -> int:
    """The branch a cond takes: the index clipped into range (lax.switch)."""
    return int(min(max(int(numpy.asarray(index)), 0), num_branches - 1))


def _cond_ref(run: Run, regions, index, *xs):
    return tuple(run(regions[branch_index(index, len(regions))], list(xs)))


# -- while_loop -------------------------------------------------------------------------------
def _while_infer(types, regions, num_carry):
    if len(regions) != 2:
        raise ShapeError(f"while_loop holds a cond and a body region, got {len(regions)} regions")
    if not 0 < num_carry <= len(types):
        raise ShapeError(f"while_loop carries {num_carry} values but has {len(types)} operands")
    cond, body = regions
    _expect("the cond region's parameter list", _types(cond.inputs), types)
    _expect("the cond region's result", _types(cond.outputs), [TensorType((), "bool")])
    _expect("the body region's parameter list", _types(body.inputs), types)
    _expect("the body region's results (the loop-carried state)", _types(body.outputs), types[:num_carry])
    return list(types[:num_carry])


def _while_ref(run: Run, regions, *operands, num_carry):
    cond, body = regions
    carry, consts = list(operands[:num_carry]), list(operands[num_carry:])
    while bool(run(cond, carry + consts)[0]):
        carry = run(body, carry + consts)
    return tuple(carry)


# -- scan -------------------------------------------------------------------------------------
def _scan_infer(types, regions, num_carry, num_xs, length, reverse=False):
    if len(regions) != 1:
        raise ShapeError(f"scan holds one body region, got {len(regions)}")
    if num_carry < 0 or num_xs < 0 or num_carry + num_xs > len(types) or length < 0:
        raise ShapeError(f"scan with {num_carry} carried values, {num_xs} sequences and length {length} "
                         f"does not fit {len(types)} operands")
    carry, xs, consts = types[:num_carry], types[num_carry:num_carry + num_xs], types[num_carry + num_xs:]
    for k, x in enumerate(xs):
        if not x.shape or x.shape[0] != length:
            raise ShapeError(f"scan's sequence {k} is {x}; its leading axis must be the length {length}")
    steps = [TensorType(x.shape[1:], x.dtype) for x in xs]
    body = regions[0]
    _expect("the body region's parameter list", _types(body.inputs), list(carry) + steps + list(consts))
    outs = _types(body.outputs)
    _expect("the body region's first results (the carried state)", outs[:num_carry], carry)
    return list(carry) + [TensorType((length,) + y.shape, y.dtype) for y in outs[num_carry:]]


def _scan_ref(run: Run, regions, *operands, num_carry, num_xs, length, reverse=False):
    body = regions[0]
    carry = list(operands[:num_carry])
    xs = operands[num_carry:num_carry + num_xs]
    consts = list(operands[num_carry + num_xs:])
    ys_types = body.outputs[num_carry:]
    ys = [numpy.empty((length,) + v.shape, to_numpy_dtype(v.dtype)) for v in ys_types]
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = run(body, carry + [x[t] for x in xs] + consts)
        carry = list(outs[:num_carry])
        for y, out in zip(ys, outs[num_carry:]):
            y[t] = out
    return tuple(carry + ys)


register(OpDef("fused", _fused_infer, _fused_ref, kind="region", attrs=("kind", "name"), differentiable=False,
               doc="a kernel: its body runs as one unit"))
register(OpDef("cond", _cond_infer, _cond_ref, kind="region",
               doc="runs branch clip(index, 0, n-1) on the operands (lax.switch)"))
register(OpDef("while_loop", _while_infer, _while_ref, kind="region", attrs=("num_carry",),
               doc="runs body on the carried state while cond holds"))
register(OpDef("scan", _scan_infer, _scan_ref, kind="region", attrs=("num_carry", "num_xs", "length", "reverse"),
               doc="runs body over the leading axis of the sequences with carried state, stacking per-step results"))
