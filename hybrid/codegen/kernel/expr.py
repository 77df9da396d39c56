"""Kernel expressions: the typed expression node `E` (its ops are listed in the package
doc), constructors that fold constants as they build, and generic traversals (walk, rewrite,
substitute)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Optional

from ...ir import scalar as S
from ...ir.types import is_float, to_numpy_dtype

if TYPE_CHECKING:
    from .describe import Buffer

INDEX = "i64"
KERNEL_OPS = set(S.SCALAR_OPS) | {"const", "ivar", "load", "reduce", "acc", "idiv", "shr", "threefry"}


class E:
    """A typed kernel expression node (see the package doc for the ops)."""

    __slots__ = ("op", "args", "dtype", "value")

    def __init__(self, op: str, args: tuple = (), dtype: str = INDEX, value: Any = None):
        assert op in KERNEL_OPS, op
        self.op, self.args, self.dtype, self.value = op, tuple(args), dtype, value

    def __repr__(self) -> str:
        if self.op == "const":
            return f"{self.value!r}:{self.dtype}"
        if self.op == "ivar":
            return f"v{self.value}"
        if self.op == "load":
            return f"{self.value}[{', '.join(map(repr, self.args))}]"
        if self.op == "reduce":
            return f"reduce<{self.value}>({self.args[0]!r})"
        return f"{self.op}:{self.dtype}({', '.join(map(repr, self.args))})"

    def key(self) -> tuple:
        """Structural identity (for common-subexpression sharing in renderers)."""
        value = self.value
        if isinstance(value, float) and math.isnan(value):
            value = "nan"
        return (self.op, self.dtype, value, tuple(a.key() for a in self.args))


def const(value, dtype: str = INDEX) -> E:
    if dtype == "bool":
        value = bool(value)
    elif not is_float(dtype):
        value = int(value)
    else:
        value = float(value)
    return E("const", (), dtype, value)


def ivar(v: int) -> E:
    return E("ivar", (), INDEX, v)


def _is_const(e: E, value=None) -> bool:
    return e.op == "const" and (value is None or e.value == value)


def iadd(a: E, b: E) -> E:
    if _is_const(a) and _is_const(b):
        return const(a.value + b.value)
    if _is_const(a, 0):
        return b
    if _is_const(b, 0):
        return a
    return E("add", (a, b))


def imul(a: E, b: E) -> E:
    if _is_const(a) and _is_const(b):
        return const(a.value * b.value)
    if _is_const(a, 0) or _is_const(b, 0):
        return const(0)
    if _is_const(a, 1):
        return b
    if _is_const(b, 1):
        return a
    return E("mul", (a, b))


def iconst_op(op: str, a: E, c: int) -> E:
    """idiv/mod of an index by a positive constant."""
    if c == 1:
        return a if op == "idiv" else const(0)
    if _is_const(a):
        return const(a.value // c if op == "idiv" else a.value % c)
    return E(op, (a, const(c)))


def imin(a: E, b: E) -> E:
    return E("min", (a, b))


def imax(a: E, b: E) -> E:
    return E("max", (a, b))


def clamp(i: E, hi: int) -> E:
    """i clamped to [0, hi]: keeps guarded loads in bounds."""
    return imin(imax(i, const(0)), const(hi))


def in_range(i: E, lo: int, hi: int) -> E:
    """lo <= i < hi, as bool."""
    return E("and", (E("ge", (i, const(lo)), "bool"), E("lt", (i, const(hi)), "bool")), "bool")


def both(a: Optional[E], b: E) -> E:
    return b if a is None else E("and", (a, b), "bool")


def select(cond: E, a: E, b: E) -> E:
    return E("select", (cond, a, b), a.dtype)


def cast(x: E, dtype: str) -> E:
    if x.dtype == dtype:
        return x
    if x.op == "const":
        return const(to_numpy_dtype(dtype).type(x.value).item(), dtype)
    return E("cast", (x,), dtype, dtype)


def load(buf: Buffer, index) -> E:
    index = tuple(index)
    assert len(index) == len(buf.shape), (buf.name, index, buf.shape)
    return E("load", index, buf.dtype, buf.name)


def walk(e: E):
    """Every node of an expression once (pre-order)."""
    seen, stack = set(), [e]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        yield n
        stack.extend(n.args)


def rewrite(e: E, replace: Callable[[E], Optional[E]]) -> E:
    """Rebuild `e` with every node for which `replace` returns an expression replaced by it
    (its arguments are not visited); untouched nodes and shared subexpressions stay shared."""
    memo: dict[int, E] = {}

    def go(e: E) -> E:
        got = memo.get(id(e))
        if got is not None:
            return got
        out = replace(e)
        if out is None:
            args = tuple(go(a) for a in e.args)
            out = E(e.op, args, e.dtype, e.value) if args != e.args else e
        memo[id(e)] = out
        return out

    return go(e)


def substitute(e: E, mapping: dict[int, E]) -> E:
    """Replace loop variables by expressions."""
    return rewrite(e, lambda n: mapping.get(n.value) if n.op == "ivar" else None)
