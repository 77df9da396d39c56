"""The op registry: the single source of truth for every primitive op.

An OpDef gives, once:
  infer   shape/dtype rule: (input types, **attrs) -> output type(s); raises ShapeError
  ref     NumPy reference: (*arrays, **attrs) -> array(s). Eager mode, the interp backend
          and constant folding all call it, so they cannot disagree.
  grad    gradient rule (cotangent, inputs, outputs, **attrs) -> input cotangents, written
          with array operators and `ops.apply`, so one rule serves the eager tape and graph
          autodiff (see hybrid.ir.ops.__init__ for the helpers rules use).
  scalar  for elementwise ops: (*scalar exprs, **attrs) -> scalar expr (see scalar.py), from
          which the LLVM and CUDA backends render code.
  kind    "elementwise" | "reduce" | "layout" | "matmul" | "conv" | "pool" | "source" | "other";
          fusion and the backends dispatch on it. "region" marks ops that hold subgraphs
          (fused, cond, while_loop, scan; see control.py): their `infer` also receives the
          node's regions and checks their signatures, and their `ref` is
          (run, regions, *arrays, **attrs), `run(graph, arrays)` evaluating a region.
  effects the op acts outside the graph (a collective exchanging data with other processes):
          DCE keeps it, CSE never merges two of them, constant folding never runs it, and a
          compiled program is split around it (hybrid.codegen.segmented).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..errors import ShapeError
from .types import TensorType


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable[..., Any]
    ref: Callable[..., Any]
    kind: str = "other"
    grad: Optional[Callable[..., Any]] = None
    scalar: Optional[Callable[..., Any]] = None
    attrs: tuple[str, ...] = ()          # attribute names, in printing order
    commutative: bool = False             # CSE canonicalizes operand order
    inplace: bool = False                 # output may reuse the buffer of input 0 when it dies here
    num_outputs: int = 1
    differentiable: bool = True
    effects: bool = False
    doc: str = ""
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name!r} is registered twice")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; registered ops: {', '.join(sorted(_REGISTRY))}") from None


def all_ops() -> dict[str, OpDef]:
    """The primitives (ops without regions): what eager code, kernels and gradient rules are made of."""
    return {name: op for name, op in _REGISTRY.items() if op.kind != "region"}


def has_effects(graph) -> bool:
    """Whether any node of `graph` runs an op with effects (see OpDef.effects)."""
    return any(get_op(node.op).effects for node in graph.nodes)


def region_ops() -> dict[str, OpDef]:
    """The ops that hold subgraphs (control.py)."""
    return {name: op for name, op in _REGISTRY.items() if op.kind == "region"}


def infer_types(op: str, input_types: list[TensorType], attrs: dict, loc: Optional[str] = None,
                regions: Sequence = ()) -> list[TensorType]:
    """Run an op's shape rule; errors name the op, the input types and the user's line."""
    opdef = get_op(op)
    if (opdef.kind == "region") != bool(regions):
        raise ShapeError(f"{op}: takes {'regions' if opdef.kind == 'region' else 'no regions'}, "
                         f"got {len(regions)}")
    try:
        result = opdef.infer(input_types, regions, **attrs) if opdef.kind == "region" else \
            opdef.infer(input_types, **attrs)
    except ShapeError as e:
        shapes = ", ".join(str(t) for t in input_types)
        where = f"\n  at {loc}" if loc else ""
        raise ShapeError(f"{op}({shapes}): {e}{where}") from None
    return list(result) if isinstance(result, (list, tuple)) and not isinstance(result, TensorType) else [result]
