"""Index arithmetic on kernel expressions: value bounds, simplification of the div/mod
patterns that layout maps leave behind, affine decomposition, and numeric evaluation."""
from __future__ import annotations

import math
from typing import Optional

import numpy

from .expr import INDEX, E, _is_const, const, iadd, iconst_op, imul


def bounds(e: E, extents: dict[int, int]) -> tuple[float, float]:
    """Inclusive (lo, hi) of an i64 index expression (inf when unknown)."""
    inf = math.inf
    if e.op == "const":
        return (e.value, e.value) if isinstance(e.value, (int, float)) else (-inf, inf)
    if e.op == "ivar":
        return (0, extents.get(e.value, 2 ** 62) - 1)
    if e.dtype != INDEX:
        return (-inf, inf)
    if e.op in ("add", "mul", "min", "max"):
        (al, ah), (bl, bh) = bounds(e.args[0], extents), bounds(e.args[1], extents)
        if e.op == "add":
            return (al + bl, ah + bh)
        if e.op == "min":
            return (min(al, bl), min(ah, bh))
        if e.op == "max":
            return (max(al, bl), max(ah, bh))
        if al >= 0 and bl >= 0:
            return (al * bl, ah * bh)
        return (-inf, inf)
    if e.op in ("idiv", "mod") and _is_const(e.args[1]):
        lo, hi = bounds(e.args[0], extents)
        c = e.args[1].value
        if e.op == "idiv":
            return (lo // c if lo != -inf else -inf, hi // c if hi != inf else inf)
        return (0, c - 1)
    return (-inf, inf)


def simplify(e: E, extents: dict[int, int]) -> E:
    """Fold constants and the div/mod patterns that reshapes leave behind:
    x // c -> 0 and x % c -> x when 0 <= x < c; (x // c) * c + x % c -> x; clamps of values
    already in range disappear."""
    memo: dict[int, E] = {}

    def go(e: E) -> E:
        got = memo.get(id(e))
        if got is not None:
            return got
        args = tuple(go(a) for a in e.args)
        out = rebuild(e, args)
        memo[id(e)] = out
        return out

    def rebuild(e: E, args: tuple) -> E:
        if e.dtype != INDEX or e.op in ("load", "reduce", "cast", "bitcast"):
            if e.op == "and" and _is_const(args[0], True):
                return args[1]
            if e.op == "and" and _is_const(args[1], True):
                return args[0]
            if e.op in ("ge", "lt") and e.args[0].dtype == INDEX and _is_const(args[1]):
                lo, hi = bounds(args[0], extents)
                c = args[1].value
                if e.op == "ge" and lo >= c or e.op == "lt" and hi < c:
                    return const(True, "bool")
            if e.op == "select" and _is_const(args[0]):
                return args[1] if args[0].value else args[2]
            return E(e.op, args, e.dtype, e.value) if args != e.args else e
        if e.op == "add":
            a, b = args
            # (x // (c*k)) * k + (x // c) % k  ->  x // c   (c = 1: (x // k) * k + x % k -> x)
            for p, q in ((a, b), (b, a)):
                if p.op == "mul" and q.op == "mod" and _is_const(p.args[1]) and p.args[1].value == q.args[1].value:
                    (xb, cx), (yb, cy) = _split_div(p.args[0]), _split_div(q.args[0])
                    k = p.args[1].value
                    if cx == cy * k and xb.key() == yb.key():
                        return iconst_op("idiv", xb, cy)
            return iadd(a, b)
        if e.op == "mul":
            return imul(*args)
        if e.op in ("idiv", "mod") and _is_const(args[1]):
            c = args[1].value
            return _div_mod(e.op, args[0], c, extents)
        if e.op in ("min", "max"):
            (al, ah), (bl, bh) = bounds(args[0], extents), bounds(args[1], extents)
            if e.op == "min":
                if ah <= bl:
                    return args[0]
                if bh <= al:
                    return args[1]
            else:
                if al >= bh:
                    return args[0]
                if bl >= ah:
                    return args[1]
        return E(e.op, args, e.dtype, e.value) if args != e.args else e

    return go(e)


def _split_div(e: E) -> tuple[E, int]:
    """e as (x, c) with e == x // c."""
    if e.op == "idiv" and _is_const(e.args[1]):
        return e.args[0], e.args[1].value
    return e, 1


def _div_mod(op: str, x: E, c: int, extents: dict[int, int]) -> E:
    """x // c or x % c for x >= 0, folding what index arithmetic leaves behind:
    range facts (x < c), multiples ((a*k + y) with c | k), and nested divisions."""
    lo, hi = bounds(x, extents)
    if lo >= 0 and hi < c:
        return const(0) if op == "idiv" else x
    if x.op == "mul" and _is_const(x.args[1]) and x.args[1].value % c == 0:
        return imul(x.args[0], const(x.args[1].value // c)) if op == "idiv" else const(0)
    if x.op == "add":
        for a, y in ((x.args[0], x.args[1]), (x.args[1], x.args[0])):
            if a.op == "mul" and _is_const(a.args[1]) and a.args[1].value % c == 0 and bounds(y, extents)[0] >= 0:
                rest = _div_mod(op, y, c, extents)
                return iadd(imul(a.args[0], const(a.args[1].value // c)), rest) if op == "idiv" else rest
    if op == "idiv" and x.op == "add":   # (a*k + y) // c -> a // (c/k) when k | c and 0 <= y < k
        for a, y in ((x.args[0], x.args[1]), (x.args[1], x.args[0])):
            if a.op == "mul" and _is_const(a.args[1]) and c % a.args[1].value == 0:
                lo, hi = bounds(y, extents)
                if lo >= 0 and hi < a.args[1].value:
                    return _div_mod("idiv", a.args[0], c // a.args[1].value, extents)
    if op == "idiv" and x.op == "idiv" and _is_const(x.args[1]):
        return _div_mod("idiv", x.args[0], c * x.args[1].value, extents)
    if op == "mod" and x.op == "mod" and _is_const(x.args[1]) and x.args[1].value % c == 0:
        return _div_mod("mod", x.args[0], c, extents)
    return iconst_op(op, x, c)


def affine(e: E) -> Optional[dict]:
    """e as {var: coefficient, None: constant} when it is affine in the loop variables."""
    if e.op == "const":
        return {None: e.value}
    if e.op == "ivar":
        return {e.value: 1, None: 0}
    if e.op in ("add", "sub", "mul") and e.dtype == "i64":
        a, b = affine(e.args[0]), affine(e.args[1])
        if a is None or b is None:
            return None
        if e.op == "mul":
            if len(a) == 1 or len(b) == 1:
                c, lin = (a[None], b) if len(a) == 1 else (b[None], a)
                return {v: x * c for v, x in lin.items()}
            return None
        sign = -1 if e.op == "sub" else 1
        out = dict(a)
        for v, x in b.items():
            out[v] = out.get(v, 0) + sign * x
        return out
    return None


def _unsplit(indices: list, strides: list) -> tuple[list, list]:
    """The indices with each adjacent pair (e // c, e % c) over dims whose strides are (c * s, s) (a flat
    index split into rows and columns: a GEMM epilogue reading an NCHW operand at pixel p as
    (p // W, p % W)) merged into the one index e of stride s: e // c * c * s + e % c * s = e * s exactly."""
    out_i, out_s, d = [], [], 0
    while d < len(indices):
        e, f = indices[d], indices[d + 1] if d + 1 < len(indices) else None
        if f is not None and e.op == "idiv" and f.op == "mod" and _is_const(e.args[1]) and _is_const(f.args[1]) \
                and e.args[1].value == f.args[1].value and e.args[0].key() == f.args[0].key() \
                and strides[d] == e.args[1].value * strides[d + 1]:
            out_i.append(e.args[0])
            out_s.append(strides[d + 1])
            d += 2
        else:
            out_i.append(e)
            out_s.append(strides[d])
            d += 1
    return out_i, out_s


def flat_affine(indices, strides) -> Optional[dict]:
    """The flat offset sum(index_i * stride_i) as {var: coefficient, None: constant}, or None
    when some index is not affine in the loop variables (a row/column split of one affine index counts as
    that index: `_unsplit`)."""
    total: dict = {None: 0}
    for index, stride in zip(*_unsplit(list(indices), list(strides))):
        lin = affine(index)
        if lin is None:
            return None
        for v, c in lin.items():
            total[v] = total.get(v, 0) + c * stride
    return total


def evaluate(e: E, env: dict[int, numpy.ndarray]) -> numpy.ndarray:
    """Evaluate an index expression on arrays of loop-variable values (for checking maps)."""
    if e.op == "const":
        return numpy.int64(e.value)
    if e.op == "ivar":
        return env[e.value]
    a = [evaluate(x, env) for x in e.args]
    ops = {"add": numpy.add, "sub": numpy.subtract, "mul": numpy.multiply, "idiv": numpy.floor_divide,
           "mod": numpy.mod, "min": numpy.minimum, "max": numpy.maximum}
    return ops[e.op](*a)
