"""The lowering's state (`_Lowering`: the kernel being built, fresh loop variables, stages,
materialization) and the helpers that every lowering rule shares."""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy

from ...ir.registry import get_op
from ...ir.types import TensorType, is_float, to_numpy_dtype
from .describe import Buffer, Check, Kernel, Reduction, Stage
from .expr import INDEX, E, cast, const, iadd, imul, ivar
from .index_math import simplify

Lazy = Callable[[tuple], E]
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def identity_buffer(lazy: Lazy, shape: tuple[int, ...], lw: "_Lowering") -> Optional[tuple[str, Optional[tuple]]]:
    """If `lazy` is a plain read of a buffer at the same index (or with its axes permuted),
    return (buffer name, perm or None)."""
    vars_ = tuple(lw.fresh(d) for d in shape)
    e = simplify(lazy(tuple(ivar(v) for v in vars_)), lw.kernel.extents)
    if e.op != "load" or any(a.op != "ivar" for a in e.args):
        return None
    order = tuple(a.value for a in e.args)
    if sorted(order) != sorted(vars_) or lw.kernel.buffers[e.value].shape != tuple(
            shape[vars_.index(v)] for v in order):
        return None
    perm = tuple(vars_.index(v) for v in order)
    return e.value, (None if perm == tuple(range(len(shape))) else perm)


class _Lowering:
    def __init__(self, name: str):
        self.kernel = Kernel(name, {})
        self.counter = 0
        self.materialized: dict[Lazy, str] = {}     # a value's lazy form -> the temp it was computed into

    def fresh(self, extent: int) -> int:
        self.counter += 1
        self.kernel.extents[self.counter] = extent
        return self.counter

    def buffer(self, prefix: str, shape, dtype, role: str, index: int = 0) -> Buffer:
        name = f"{prefix}{index}" if role in ("input", "output") else f"{prefix}{len(self.kernel.buffers)}"
        buf = Buffer(name, tuple(shape), dtype, role, index)
        self.kernel.buffers[name] = buf
        return buf

    def stage(self, out: Buffer, lazy: Lazy) -> None:
        vars_ = tuple(self.fresh(d) for d in out.shape)
        expr = simplify(lazy(tuple(ivar(v) for v in vars_)), self.kernel.extents)
        self.kernel.stages.append(Stage(out.name, vars_, expr))

    def check(self, node, kind: str, lazy: Lazy, shape: tuple[int, ...], low: int, high: Optional[int],
              detail: str) -> None:
        """Test every value of `lazy` (over `shape`) against [low, high] (high None: no upper
        bound) after the call: one min (and max) reduction into a "check" buffer, a pass over the
        (usually small) index or exponent array rather than a test per element of the result."""
        if 0 in shape:
            return
        names = []
        for combine, wanted in (("min", True), ("max", high is not None)):
            if not wanted:
                names.append(None)
                continue
            buf = self.buffer("chk", (), INDEX, "check")
            self.stage(buf, lambda idx, combine=combine: self._extreme(lazy, shape, combine))
            names.append(buf.name)
        self.kernel.checks.append(Check(node.op, kind, low, I64_MAX if high is None else high, names[0], names[1],
                                        node.loc, detail))

    def _extreme(self, lazy: Lazy, shape: tuple[int, ...], combine: str) -> E:
        rvars = tuple(self.fresh(d) for d in shape)
        value = cast(lazy(tuple(ivar(v) for v in rvars)), INDEX)
        if not rvars:
            return value
        identity = I64_MAX if combine == "min" else I64_MIN
        return E("reduce", (value,), INDEX, Reduction(combine, identity, rvars, tuple(shape)))

    def materialize(self, lazy: Lazy, t: TensorType) -> Buffer:
        found = identity_buffer(lazy, t.shape, self)
        if found is not None and found[1] is None:
            return self.kernel.buffers[found[0]]
        buf = self.buffer("t", t.shape, t.dtype, "temp")
        self.stage(buf, lazy)
        self.materialized[lazy] = buf.name
        return buf


def _linear(idx: tuple, shape: tuple[int, ...]) -> E:
    out = const(0)
    for i, d in zip(idx, shape):
        out = iadd(imul(out, const(d)), i)
    return out


def _identity_of(op: str, dtype: str):
    if op == "argmax":
        return None
    extra = get_op(op).extra
    ident = extra["identity"]
    if isinstance(ident, str):
        ident = float(ident)
    if not is_float(dtype) and math.isinf(ident):
        info = numpy.iinfo(to_numpy_dtype(dtype)) if dtype != "bool" else None
        ident = (info.min if ident < 0 else info.max) if info else ident > 0
    return ident
