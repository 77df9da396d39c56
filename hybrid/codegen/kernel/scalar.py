"""Typing of the registry's scalar expressions (hybrid/ir/scalar.py) as kernel `E`s."""
from __future__ import annotations

from ...ir import scalar as S
from ...ir.types import dtype_name
from .expr import E, cast, const

_BOOL_RESULT = {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"}


def from_scalar(expr: S.Expr, operands: list[E], out_dtype: str) -> E:
    """Type a registry scalar expression: weak constants take the dtype of their siblings."""

    def go(x: S.Expr, hint: str) -> E:
        if x.op == "var":
            return operands[x.value]
        if x.op == "const":
            return const(x.value, hint)
        if x.op == "cast":
            inner = go(x.args[0], hint)
            return cast(inner, x.value if x.value in ("bool",) else _dtype(x.value))
        if x.op == "bitcast":
            inner = go(x.args[0], hint)
            return E("bitcast", (inner,), _dtype(x.value), _dtype(x.value))
        typed = [None if a.op == "const" else go(a, hint) for a in x.args]
        if x.op == "select":
            branch = next((t.dtype for t in typed[1:] if t is not None), hint)
            args = [typed[0] if typed[0] is not None else const(x.args[0].value, "bool")]
            args += [t if t is not None else const(a.value, branch) for t, a in zip(typed[1:], x.args[1:])]
            return E("select", tuple(args), branch)
        sib = next((t.dtype for t in typed if t is not None), hint)
        args = tuple(t if t is not None else const(a.value, sib) for t, a in zip(typed, x.args))
        return E(x.op, args, "bool" if x.op in _BOOL_RESULT else sib)

    result = go(expr, out_dtype)
    return cast(result, out_dtype)


def _dtype(name) -> str:
    return dtype_name(name)
