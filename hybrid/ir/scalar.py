"""Scalar expressions: the per-element form of elementwise ops.

An elementwise OpDef's `scalar` builds an expression tree from its operands, e.g.
sigmoid: `1 / (1 + exp(-x))`. The LLVM and CUDA backends each render the small fixed set
of SCALAR_OPS below; everything else is composed in the registry, once.

Constants are "weak": they take the dtype of the expression they meet, as NumPy scalars do.
"""
from __future__ import annotations

from typing import Any

# name -> arity. The backends implement exactly these.
SCALAR_OPS: dict[str, int] = {
    "add": 2, "sub": 2, "mul": 2, "div": 2, "neg": 1, "max": 2, "min": 2, "pow": 2, "mod": 2,
    "abs": 1, "exp": 1, "expm1": 1, "log": 1, "log1p": 1, "sqrt": 1, "rsqrt": 1, "tanh": 1, "erf": 1, "sin": 1, "cos": 1,
    "floor": 1, "ceil": 1, "round": 1,
    "floordiv": 2,  # NumPy floor_divide: exact for integers (x // 0 == 0), NumPy's divmod rule for floats
    # bitwise (integers and bool); shifts by >= the bit width give 0 (or -1 for negative signed >>)
    "bitand": 2, "bitor": 2, "bitxor": 2, "bitnot": 1, "lshift": 2, "rshift": 2,
    "lt": 2, "le": 2, "gt": 2, "ge": 2, "eq": 2, "ne": 2, "and": 2, "or": 2, "not": 1,
    "select": 3,   # select(cond, a, b)
    "cast": 1,     # attrs: dtype
    "bitcast": 1,  # attrs: dtype of the same bit width (bool <-> 8-bit integers: 0/1)
}


class Expr:
    """A node of a scalar expression: op in SCALAR_OPS, or 'var' (operand i), 'const' (value),
    'index' (the flat element index, used by counter-based RNG)."""

    __slots__ = ("op", "args", "value")

    def __init__(self, op: str, args: tuple["Expr", ...] = (), value: Any = None):
        self.op, self.args, self.value = op, args, value

    def _bin(self, op, other, flip=False):
        other = lift(other)
        return Expr(op, (other, self) if flip else (self, other))

    __add__ = lambda s, o: s._bin("add", o)
    __radd__ = lambda s, o: s._bin("add", o, True)
    __sub__ = lambda s, o: s._bin("sub", o)
    __rsub__ = lambda s, o: s._bin("sub", o, True)
    __mul__ = lambda s, o: s._bin("mul", o)
    __rmul__ = lambda s, o: s._bin("mul", o, True)
    __truediv__ = lambda s, o: s._bin("div", o)
    __rtruediv__ = lambda s, o: s._bin("div", o, True)
    __lt__ = lambda s, o: s._bin("lt", o)
    __le__ = lambda s, o: s._bin("le", o)
    __gt__ = lambda s, o: s._bin("gt", o)
    __ge__ = lambda s, o: s._bin("ge", o)
    __neg__ = lambda s: Expr("neg", (s,))

    def __repr__(self) -> str:
        if self.op == "var":
            return f"${self.value}"
        if self.op == "const":
            return repr(self.value)
        if self.op in ("cast", "bitcast"):
            return f"{self.op}<{self.value}>({self.args[0]!r})"
        return f"{self.op}({', '.join(repr(a) for a in self.args)})"


def lift(x) -> Expr:
    return x if isinstance(x, Expr) else Expr("const", (), x)


def var(i: int) -> Expr:
    return Expr("var", (), i)


def call(op: str, *args) -> Expr:
    assert op in SCALAR_OPS and SCALAR_OPS[op] == len(args), op
    return Expr(op, tuple(lift(a) for a in args))


def cast(x: Expr, dtype: str) -> Expr:
    return Expr("cast", (lift(x),), dtype)


def bitcast(x: Expr, dtype: str) -> Expr:
    return Expr("bitcast", (lift(x),), dtype)


def select(cond, a, b) -> Expr:
    return call("select", cond, a, b)
