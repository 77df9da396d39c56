"""The backend-neutral kernel description: what one fused node (or plain primitive node)
computes, stated once, so the LLVM and CUDA backends only render it.

Stages of `lower_node`:
  1. give every value of the node's (sub)graph a *lazy* form: a function from an index tuple
     (typed `E` expressions of loop variables) to the value's scalar `E` at that index.
     Elementwise ops substitute their registry scalar expression; layout ops
     (reshape/transpose/slice/concat/pad/broadcast_to/take) are index maps; iota and
     random_uniform (threefry2x32) are expressions of the index.
  2. materialize what must be: reductions and pooling (a `Stage` whose expression holds a
     `reduce`), matmul/conv2d (a `GemmStage`; conv2d pads its input once, then an all-affine
     im2col `Stage` fills a (N, G, Cg, KH, KW, OH, OW) column buffer that the GEMM reads as
     (N, G) stacks of Kc x P matrices; its gradients lower to GEMMs plus gathers), and the
     kernel's outputs. Materialized values are read back through `load`.
  3. fold a GEMM's elementwise tail into its `epilogue` when it reads the product at the
     same index (bias, activation, residual), and simplify all index arithmetic.

Expressions (`E`): op is a SCALAR_OPS name (hybrid/ir/scalar.py, typed here) or one of
  const (value), ivar (value = loop variable id, i64), load (value = buffer name, args =
  one i64 index per buffer dim; buffers are dense row-major), reduce (value = Reduction,
  args = (body,)), acc (the GEMM product at the current element, in an epilogue),
  idiv (floor division of non-negative i64), shr (logical shift right of u32),
  threefry (args = k0, k1, counter, all u32 -> the first output word of threefry2x32).
Loads are always in bounds: guarded reads (pad, concat, pooling windows) clamp the index
and select the fill value, so renderers may evaluate both sides of a select.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy

from ..errors import HybridError
from ..ir import scalar as S
from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op
from ..ir.types import TensorType, is_float, to_numpy_dtype

INDEX = "i64"
KERNEL_OPS = set(S.SCALAR_OPS) | {"const", "ivar", "load", "reduce", "acc", "idiv", "shr", "threefry"}
_BOOL_RESULT = {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"}


class E:
    """A typed kernel expression node (see the module doc for the ops)."""

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


@dataclass(frozen=True)
class Reduction:
    """A reduction over loop variables `vars` (extents `extents`) of the body expression.
    combine: add | mul | max | min (NaN-propagating, as NumPy) | argmax (first max or first
    NaN, flat index over `vars`, i32). Renderers accumulate long float sums in blocks (the
    LLVM backend: blocks of 256, each summed with a reassociable, vectorized add, the block
    sums added in order), so the error grows with n/256 + 256 rather than n."""
    combine: str
    identity: Any
    vars: tuple[int, ...]
    extents: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.combine} over {', '.join(f'v{v}<{e}' for v, e in zip(self.vars, self.extents))}"


@dataclass(frozen=True)
class Buffer:
    """A dense row-major buffer. role: input (kernel operand i), output (result i), temp
    (scratch owned by the kernel), const (a constant array baked into the kernel)."""
    name: str
    shape: tuple[int, ...]
    dtype: str
    role: str
    index: int = 0

    @property
    def size(self) -> int:
        return TensorType(self.shape, self.dtype).size

    @property
    def nbytes(self) -> int:
        return TensorType(self.shape, self.dtype).nbytes

    def strides(self) -> tuple[int, ...]:
        """Element strides."""
        out, acc = [], 1
        for d in reversed(self.shape):
            out.append(acc)
            acc *= d
        return tuple(reversed(out))


@dataclass
class Stage:
    """out[vars] = expr for every index of `out` (vars[d] ranges over out.shape[d])."""
    out: str
    vars: tuple[int, ...]
    expr: E


@dataclass
class GemmStage:
    """For each batch index b (over batch_shape, vars batch_vars):
    C_b = op(A_b) @ op(B_b), A_b at a + sum(b*a_strides) (row-major, leading dim lda, M x K
    after op), likewise B (K x N), C (M x N, ldc). `epilogue` (over batch_vars + (m_var,
    n_var), reading the product with `acc`) gives the value stored at each C element;
    None stores the product."""
    out: str
    a: str
    b: str
    M: int
    N: int
    K: int
    trans_a: bool
    trans_b: bool
    lda: int
    ldb: int
    ldc: int
    batch_shape: tuple[int, ...]
    a_strides: tuple[int, ...]
    b_strides: tuple[int, ...]
    c_strides: tuple[int, ...]
    batch_vars: tuple[int, ...]
    m_var: int
    n_var: int
    epilogue: Optional[E] = None
    out_index: tuple = ()     # the output buffer index of element (batch_vars, m_var, n_var)

    @property
    def flops(self) -> int:
        return 2 * self.M * self.N * self.K * int(numpy.prod(self.batch_shape, dtype=numpy.int64))


@dataclass
class Kernel:
    name: str
    buffers: dict[str, Buffer]
    stages: list = field(default_factory=list)
    extents: dict[int, int] = field(default_factory=dict)   # loop variable id -> extent
    constants: dict[str, numpy.ndarray] = field(default_factory=dict)

    def by_role(self, role: str) -> list[Buffer]:
        return sorted((b for b in self.buffers.values() if b.role == role), key=lambda b: b.index)

    @property
    def inputs(self) -> list[Buffer]:
        return self.by_role("input")

    @property
    def outputs(self) -> list[Buffer]:
        return self.by_role("output")

    @property
    def temps(self) -> list[Buffer]:
        return self.by_role("temp")

    def __str__(self) -> str:
        lines = [f"kernel {self.name}:"]
        for b in self.buffers.values():
            lines.append(f"  {b.role} {b.name}: {TensorType(b.shape, b.dtype)}")
        for s in self.stages:
            if isinstance(s, Stage):
                lines.append(f"  {s.out}[{', '.join(f'v{v}' for v in s.vars)}] = {s.expr!r}")
            else:
                lines.append(f"  {s.out} = gemm(M={s.M}, N={s.N}, K={s.K}, {s.a}{'^T' if s.trans_a else ''}, "
                             f"{s.b}{'^T' if s.trans_b else ''}, batch={s.batch_shape}) epilogue {s.epilogue!r}")
        return "\n".join(lines)


# -- expression constructors (with light constant folding) -----------------------------------
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


# -- index simplification ------------------------------------------------------------------
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
        if e.dtype != INDEX or e.op in ("load", "reduce", "cast"):
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


def substitute(e: E, mapping: dict[int, E]) -> E:
    """Replace loop variables by expressions."""
    memo: dict[int, E] = {}

    def go(e: E) -> E:
        got = memo.get(id(e))
        if got is not None:
            return got
        if e.op == "ivar" and e.value in mapping:
            out = mapping[e.value]
        elif e.args:
            args = tuple(go(a) for a in e.args)
            out = E(e.op, args, e.dtype, e.value) if args != e.args else e
        else:
            out = e
        memo[id(e)] = out
        return out

    return go(e)


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


# -- from registry scalar expressions to typed E ---------------------------------------------
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
    from ..ir.types import dtype_name
    return dtype_name(name)


# -- lowering ---------------------------------------------------------------------------------
Lazy = Callable[[tuple], E]


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

    def materialize(self, lazy: Lazy, t: TensorType) -> Buffer:
        found = identity_buffer(lazy, t.shape, self)
        if found is not None and found[1] is None:
            return self.kernel.buffers[found[0]]
        buf = self.buffer("t", t.shape, t.dtype, "temp")
        self.stage(buf, lazy)
        return buf


def _broadcast_index(idx: tuple, shape: tuple[int, ...]) -> tuple:
    """Index into an operand of `shape` broadcast against an output indexed by idx."""
    idx = idx[len(idx) - len(shape):] if shape else ()
    return tuple(const(0) if d == 1 else i for i, d in zip(idx, shape))


def _linear(idx: tuple, shape: tuple[int, ...]) -> E:
    out = const(0)
    for i, d in zip(idx, shape):
        out = iadd(imul(out, const(d)), i)
    return out


def _reshape_index(idx: tuple, out_shape: tuple[int, ...], in_shape: tuple[int, ...]) -> tuple:
    """Map an index of the reshaped array to an index of the source, group by group: dims
    are split into runs whose sizes multiply to the same product, so a reshape that only
    merges or splits neighbouring axes stays affine where it can."""
    result: list[E] = []
    i = j = 0
    while i < len(out_shape) or j < len(in_shape):
        i0, j0 = i, j
        po = pi = 1
        if i < len(out_shape):
            po *= out_shape[i]
            i += 1
        if j < len(in_shape):
            pi *= in_shape[j]
            j += 1
        while po != pi:
            if po < pi:
                po *= out_shape[i]
                i += 1
            else:
                pi *= in_shape[j]
                j += 1
        # absorb trailing size-1 dims into this group
        while i < len(out_shape) and out_shape[i] == 1 and (j >= len(in_shape) or in_shape[j] != 1):
            i += 1
        while j < len(in_shape) and in_shape[j] == 1 and (i >= len(out_shape) or out_shape[i] != 1):
            j += 1
        flat = _linear(idx[i0:i], out_shape[i0:i])
        rest = pi
        for d in in_shape[j0:j]:
            rest //= d
            result.append(iconst_op("mod", iconst_op("idiv", flat, rest), d) if d != pi // rest else
                          iconst_op("idiv", flat, rest))
    return tuple(result)


def _threefry_uniform(key: Buffer, flat: E, dtype: str) -> E:
    k0 = load(key, (const(0),))
    k1 = load(key, (const(1),))
    bits = E("threefry", (k0, k1, cast(flat, "u32")), "u32")
    top = E("shr", (bits, const(8, "u32")), "u32")
    return cast(E("mul", (cast(top, "f32"), const(1.0 / (1 << 24), "f32")), "f32"), dtype)


def _lower_value(lw: _Lowering, node: Node, args: list[Lazy], env_types: list[TensorType]) -> list[Lazy]:
    """The lazy forms of one primitive node's outputs."""
    opdef = get_op(node.op)
    out_t = node.outputs[0].type
    attrs = node.attrs
    op = node.op

    if opdef.kind == "elementwise" and opdef.scalar is not None:
        expr = opdef.scalar(*[S.var(i) for i in range(len(args))], **attrs)
        shapes = [t.shape for t in env_types]

        def lazy(idx, expr=expr, args=args, shapes=shapes):
            operands = [a(_broadcast_index(idx, s)) for a, s in zip(args, shapes)]
            return from_scalar(expr, operands, out_t.dtype)
        return [lazy]

    if op == "broadcast_to":
        (a,), (t,) = args, env_types
        return [lambda idx: a(_broadcast_index(idx, t.shape))]
    if op == "reshape":
        (a,), (t,) = args, env_types
        return [lambda idx: a(_reshape_index(idx, out_t.shape, t.shape))]
    if op == "transpose":
        (a,) = args
        perm = attrs["perm"]
        inv = [perm.index(d) for d in range(len(perm))]
        return [lambda idx: a(tuple(idx[inv[d]] for d in range(len(perm))))]
    if op == "slice":
        (a,) = args
        begin, step = attrs["begin"], attrs["step"]
        return [lambda idx: a(tuple(iadd(const(b), imul(i, const(s))) for i, b, s in zip(idx, begin, step)))]
    if op == "pad":
        (a,), (t,) = args, env_types
        pads, value = attrs["pads"], attrs["value"]

        def lazy(idx):
            cond, src = None, []
            for d, (i, n) in enumerate(zip(idx, t.shape)):
                lo = pads[2 * d]
                if lo == 0 and pads[2 * d + 1] == 0:
                    src.append(i)
                    continue
                j = iadd(i, const(-lo))
                cond = both(cond, in_range(j, 0, n))
                src.append(clamp(j, n - 1))
            inner = a(tuple(src))
            return inner if cond is None else select(cond, inner, const(value, out_t.dtype))
        return [lazy]
    if op == "concat":
        axis = attrs["axis"]
        offsets = numpy.cumsum([0] + [t.shape[axis] for t in env_types])

        def lazy(idx):
            i = idx[axis]
            result = None
            for k in reversed(range(len(args))):
                n = env_types[k].shape[axis]
                local = clamp(iadd(i, const(-int(offsets[k]))), n - 1)
                value = args[k](idx[:axis] + (local,) + idx[axis + 1:])
                result = value if result is None else select(E("lt", (i, const(int(offsets[k + 1]))), "bool"),
                                                             value, result)
            return result
        return [lazy]
    if op == "take":
        (a, ix), (ta, ti) = args, env_types
        axis = attrs["axis"]
        k = len(ti.shape)

        def lazy(idx):
            pos = clamp(cast(ix(tuple(idx[axis:axis + k])), INDEX), ta.shape[axis] - 1)
            return a(tuple(idx[:axis]) + (pos,) + tuple(idx[axis + k:]))
        return [lazy]
    if op == "constant":
        value = attrs["value"]
        if value.size == 1:
            scalar = value.reshape(-1)[0].item()
            return [lambda idx: const(scalar, out_t.dtype)]
        buf = lw.buffer("c", value.shape, out_t.dtype, "const")
        lw.kernel.constants[buf.name] = numpy.ascontiguousarray(value)
        return [lambda idx: load(buf, idx)]
    if op == "iota":
        axis = attrs["axis"]
        return [lambda idx: cast(idx[axis], out_t.dtype)]
    if op == "random_uniform":
        (key_lazy,) = args
        key = lw.materialize(key_lazy, env_types[0])
        return [lambda idx: _threefry_uniform(key, _linear(idx, out_t.shape), out_t.dtype)]

    # materialized ops: reductions, pooling, matmul, conv
    out = lw.buffer("t", out_t.shape, out_t.dtype, "temp")
    if opdef.kind == "reduce":
        (a,), (t,) = args, env_types
        _lower_reduce(lw, node, a, t, out)
    elif op in ("max_pool2d", "avg_pool2d"):
        _lower_pool(lw, node, args[0], env_types[0], out)
    elif op == "matmul":
        _lower_matmul(lw, node, args, env_types, out)
    elif op == "conv2d":
        _lower_conv(lw, node, args, env_types, out)
    elif op in _GRAD_RULES:
        _GRAD_RULES[op](lw, node, args, env_types, out)
    else:
        raise HybridError(f"kernel lowering has no rule for op {op!r} (kind {opdef.kind}); "
                          "add one in hybrid/codegen/kernel.py")
    return [lambda idx, out=out: load(out, idx)]


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


def _lower_reduce(lw: _Lowering, node: Node, a: Lazy, t: TensorType, out: Buffer) -> None:
    op = node.op
    axes = (node.attrs["axis"],) if op == "argmax" else tuple(node.attrs["axes"])
    keep = node.attrs["keepdims"]
    combine = "argmax" if op == "argmax" else get_op(op).extra["combine"]
    identity = _identity_of(op, t.dtype)

    def lazy(idx):
        rvars = tuple(lw.fresh(t.shape[ax]) for ax in axes)
        src, k = [], 0
        for d in range(t.ndim):
            if d in axes:
                src.append(ivar(rvars[axes.index(d)]))
                if keep:
                    k += 1
            else:
                src.append(idx[k])
                k += 1
        red = Reduction(combine, identity, rvars, tuple(t.shape[ax] for ax in axes))
        return E("reduce", (a(tuple(src)),), out.dtype, red)
    lw.stage(out, lazy)


def _lower_pool(lw: _Lowering, node: Node, a: Lazy, t: TensorType, out: Buffer) -> None:
    (kh, kw), (sh, sw), (ph, pw) = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    H, W = t.shape[2:]
    is_max = node.op == "max_pool2d"
    dtype = t.dtype

    def lazy(idx):
        n, c, oh, ow = idx
        rh, rw = lw.fresh(kh), lw.fresh(kw)
        ih = iadd(iadd(imul(oh, const(sh)), const(-ph)), ivar(rh))
        iw = iadd(iadd(imul(ow, const(sw)), const(-pw)), ivar(rw))
        valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
        x = a((n, c, clamp(ih, H - 1), clamp(iw, W - 1)))
        fill = _identity_of("max", dtype) if is_max else 0
        body = select(valid, x, const(fill, dtype))
        red = Reduction("max" if is_max else "add", fill, (rh, rw), (kh, kw))
        total = E("reduce", (body,), dtype, red)
        if is_max:
            return total
        if node.attrs["count_include_pad"]:
            count = const(float(kh * kw), dtype)
        else:
            h0 = iadd(imul(oh, const(sh)), const(-ph))
            w0 = iadd(imul(ow, const(sw)), const(-pw))
            ch = E("sub", (imin(iadd(h0, const(kh)), const(H)), imax(h0, const(0))))
            cw = E("sub", (imin(iadd(w0, const(kw)), const(W)), imax(w0, const(0))))
            count = cast(imul(ch, cw), dtype)
        return E("div", (total, count), dtype)
    lw.stage(out, lazy)


def _gemm_operand(lw: _Lowering, lazy: Lazy, t: TensorType, trans: bool) -> tuple[Buffer, bool]:
    """A buffer holding the operand row-major, reading transposed views in place."""
    found = identity_buffer(lazy, t.shape, lw)
    if found is not None:
        name, perm = found
        nd = len(t.shape)
        if perm is None:
            return lw.kernel.buffers[name], trans
        if perm == tuple(range(nd - 2)) + (nd - 1, nd - 2):
            return lw.kernel.buffers[name], not trans
    return lw.materialize(lazy, t), trans


def _batch_strides(shape: tuple[int, ...], batch: tuple[int, ...], matrix: int) -> tuple[int, ...]:
    """Element strides of each output batch dim into an operand with leading dims `shape`
    (broadcast dims get stride 0)."""
    own = shape[len(shape) - len(batch):] if len(batch) <= len(shape) else shape
    pad = len(batch) - len(own)
    strides, acc = [], matrix
    for d in reversed(own):
        strides.append(0 if d == 1 else acc)
        acc *= d
    return (0,) * pad + tuple(reversed(strides))


def _lower_matmul(lw: _Lowering, node: Node, args: list[Lazy], types: list[TensorType], out: Buffer) -> None:
    ta, tb = node.attrs.get("transpose_a", False), node.attrs.get("transpose_b", False)
    A, ta = _gemm_operand(lw, args[0], types[0], ta)
    B, tb = _gemm_operand(lw, args[1], types[1], tb)
    batch = out.shape[:-2]
    M, N = out.shape[-2:]
    K = types[0].shape[-2] if node.attrs.get("transpose_a", False) else types[0].shape[-1]
    a_shape, b_shape = A.shape, B.shape
    bvars = tuple(lw.fresh(d) for d in batch)
    m, n = lw.fresh(M), lw.fresh(N)
    lw.kernel.stages.append(GemmStage(
        out.name, A.name, B.name, M, N, K, ta, tb, a_shape[-1], b_shape[-1], N, tuple(batch),
        _batch_strides(a_shape[:-2], batch, a_shape[-1] * a_shape[-2]),
        _batch_strides(b_shape[:-2], batch, b_shape[-1] * b_shape[-2]),
        _batch_strides(tuple(batch), batch, M * N), bvars, m, n,
        out_index=tuple(ivar(v) for v in bvars + (m, n))))


def _lower_conv(lw: _Lowering, node: Node, args: list[Lazy], types: list[TensorType], out: Buffer) -> None:
    tx, tw = types
    N, C, H, W = tx.shape
    O, Cg, KH, KW = tw.shape
    G = node.attrs["groups"]
    (sh, sw), (ph, pw), (dh, dw) = node.attrs["stride"], node.attrs["padding"], node.attrs["dilation"]
    OH, OW = out.shape[2:]
    P, Kc, Og = OH * OW, Cg * KH * KW, O // G
    wbuf = lw.materialize(args[1], tw)
    direct = None
    if KH == KW == 1 and sh == sw == 1 and ph == pw == 0 and G == 1:
        direct = identity_buffer(args[0], tx.shape, lw)
    if direct is not None and direct[1] is None:
        col = lw.kernel.buffers[direct[0]]
        col_strides = (C * H * W, 0)
    else:
        # Pad once (small), then im2col reads without bounds checks: every index is affine in
        # its loop variables, so the copy runs as plain (vectorizable) strided loads. The
        # column buffer (N, G, Cg, KH, KW, OH, OW) is the (N, G, Kc, P) matrix stack the GEMM reads.
        src = lw.materialize(args[0], tx)
        if ph or pw:
            x, padded = src, lw.buffer("t", (N, C, H + 2 * ph, W + 2 * pw), tx.dtype, "temp")

            def pad(idx):
                n, c, h, w = idx
                ih, iw = iadd(h, const(-ph)), iadd(w, const(-pw))
                valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
                return select(valid, load(x, (n, c, clamp(ih, H - 1), clamp(iw, W - 1))), const(0, tx.dtype))
            lw.stage(padded, pad)
            src = padded
        col = lw.buffer("t", (N, G, Cg, KH, KW, OH, OW), tx.dtype, "temp")

        def im2col(idx):
            n, g, c, kh, kw, oh, ow = idx
            return load(src, (n, iadd(imul(g, const(Cg)), c), iadd(imul(oh, const(sh)), imul(kh, const(dh))),
                              iadd(imul(ow, const(sw)), imul(kw, const(dw)))))
        lw.stage(col, im2col)
        col_strides = (G * Kc * P, Kc * P)
    bn, bg = lw.fresh(N), lw.fresh(G)
    m, p = lw.fresh(Og), lw.fresh(P)
    out_index = (ivar(bn), iadd(imul(ivar(bg), const(Og)), ivar(m)),
                 iconst_op("idiv", ivar(p), OW), iconst_op("mod", ivar(p), OW))
    lw.kernel.stages.append(GemmStage(out.name, wbuf.name, col.name, Og, P, Kc, False, False, Kc, P, P, (N, G),
                                      (0, Og * Kc), col_strides, (O * P, Og * P), (bn, bg), m, p,
                                      out_index=out_index))


# -- the transposed (gradient) ops, as gathers: each output element sums what reaches it ----
def _tap_source(o: E, k: E, stride: int, pad: int, dil: int, size: int) -> tuple[E, E]:
    """The output position that kernel tap k of input position o came from:
    (valid, clamped index) for o = i * stride - pad + k * dil."""
    t = iadd(iadd(o, const(pad)), imul(k, const(-dil)))
    tc = imax(t, const(0))
    valid = E("ge", (t, const(0)), "bool")
    if stride > 1:
        valid = both(valid, E("eq", (iconst_op("mod", tc, stride), const(0)), "bool"))
    i = iconst_op("idiv", tc, stride)
    return both(valid, E("lt", (i, const(size)), "bool")), imin(i, const(size - 1))


def _lower_conv_input_grad(lw, node, args, types, out) -> None:
    """dx = col2im(W^T @ g): one GEMM per (n, group) into columns, then a gather over taps."""
    tg, tw = types
    N, C, H, W = out.shape
    O, Cg, KH, KW = tw.shape
    _, _, OH, OW = tg.shape
    G = node.attrs["groups"]
    (sh, sw), (ph, pw), (dh, dw) = node.attrs["stride"], node.attrs["padding"], node.attrs["dilation"]
    P, Kc, Og = OH * OW, Cg * KH * KW, O // G
    gbuf = lw.materialize(args[0], tg)
    wbuf = lw.materialize(args[1], tw)
    col = lw.buffer("t", (N, G, Kc, P), out.dtype, "temp")
    bn, bg, m, p = lw.fresh(N), lw.fresh(G), lw.fresh(Kc), lw.fresh(P)
    lw.kernel.stages.append(GemmStage(col.name, wbuf.name, gbuf.name, Kc, P, Og, True, False, Kc, P, P, (N, G),
                                      (0, Og * Kc), (O * P, Og * P), (G * Kc * P, Kc * P), (bn, bg), m, p,
                                      out_index=tuple(ivar(v) for v in (bn, bg, m, p))))

    def lazy(idx):
        n, c, h, w = idx
        rh, rw = lw.fresh(KH), lw.fresh(KW)
        vh, oh = _tap_source(h, ivar(rh), sh, ph, dh, OH)
        vw, ow = _tap_source(w, ivar(rw), sw, pw, dw, OW)
        g = iconst_op("idiv", c, Cg)
        k = iadd(iadd(imul(iconst_op("mod", c, Cg), const(KH * KW)), imul(ivar(rh), const(KW))), ivar(rw))
        value = load(col, (n, g, k, iadd(imul(oh, const(OW)), ow)))
        body = select(both(vh, vw), value, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, (rh, rw), (KH, KW)))
    lw.stage(out, lazy)


def _lower_conv_weight_grad(lw, node, args, types, out) -> None:
    """dw[g] = g_g (Og x N*P) @ cols_g^T: the batch sum folds into the GEMM's K dimension."""
    tx, tg = types
    N, C, H, W = tx.shape
    O, Cg, KH, KW = out.shape
    _, _, OH, OW = tg.shape
    G = node.attrs["groups"]
    (sh, sw), (ph, pw), (dh, dw) = node.attrs["stride"], node.attrs["padding"], node.attrs["dilation"]
    P, Kc, Og = OH * OW, Cg * KH * KW, O // G
    x, gl = args
    gt = lw.buffer("t", (G, Og, N, P), out.dtype, "temp")
    lw.stage(gt, lambda idx: gl((idx[2], iadd(imul(idx[0], const(Og)), idx[1]),
                                 iconst_op("idiv", idx[3], OW), iconst_op("mod", idx[3], OW))))
    cols = lw.buffer("t", (G, Kc, N, P), out.dtype, "temp")

    def im2col(idx):
        g, k, n, p = idx
        c = iadd(imul(g, const(Cg)), iconst_op("idiv", k, KH * KW))
        kh = iconst_op("mod", iconst_op("idiv", k, KW), KH)
        kw = iconst_op("mod", k, KW)
        ih = iadd(iadd(imul(iconst_op("idiv", p, OW), const(sh)), const(-ph)), imul(kh, const(dh)))
        iw = iadd(iadd(imul(iconst_op("mod", p, OW), const(sw)), const(-pw)), imul(kw, const(dw)))
        valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
        return select(valid, x((n, c, clamp(ih, H - 1), clamp(iw, W - 1))), const(0, out.dtype))
    lw.stage(cols, im2col)
    bg, m, n = lw.fresh(G), lw.fresh(Og), lw.fresh(Kc)
    lw.kernel.stages.append(GemmStage(out.name, gt.name, cols.name, Og, Kc, N * P, False, True, N * P, N * P, Kc,
                                      (G,), (Og * N * P,), (Kc * N * P,), (Og * Kc,), (bg,), m, n,
                                      out_index=(iadd(imul(ivar(bg), const(Og)), ivar(m)),
                                                 iconst_op("idiv", ivar(n), KH * KW),
                                                 iconst_op("mod", iconst_op("idiv", ivar(n), KW), KH),
                                                 iconst_op("mod", ivar(n), KW))))


def _lower_pool_grad(lw, node, args, types, out) -> None:
    """max: route g to the first maximum of each window (argmax per window first);
    avg: spread g over its window. Both gather over the windows that cover an input."""
    (kh, kw), (sh, sw), (ph, pw) = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    N, C, H, W = out.shape
    is_max = node.op == "max_pool2d_grad"
    tg = types[1] if is_max else types[0]
    gl = args[1] if is_max else args[0]
    OH, OW = tg.shape[2:]
    if is_max:
        x = args[0]
        am = lw.buffer("t", tg.shape, "i32", "temp")

        def window_argmax(idx):
            n, c, oh, ow = idx
            r = lw.fresh(kh * kw)
            ih = iadd(iadd(imul(oh, const(sh)), const(-ph)), iconst_op("idiv", ivar(r), kw))
            iw = iadd(iadd(imul(ow, const(sw)), const(-pw)), iconst_op("mod", ivar(r), kw))
            valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
            body = select(valid, x((n, c, clamp(ih, H - 1), clamp(iw, W - 1))),
                          const(_identity_of("max", out.dtype), out.dtype))
            return E("reduce", (body,), "i32", Reduction("argmax", None, (r,), (kh * kw,)))
        lw.stage(am, window_argmax)
    else:
        share = lw.buffer("t", tg.shape, out.dtype, "temp")
        node_attrs = dict(node.attrs)
        count_all = node_attrs["count_include_pad"]

        def spread(idx):
            n, c, oh, ow = idx
            if count_all:
                count = const(float(kh * kw), out.dtype)
            else:
                h0 = iadd(imul(oh, const(sh)), const(-ph))
                w0 = iadd(imul(ow, const(sw)), const(-pw))
                ch = E("sub", (imin(iadd(h0, const(kh)), const(H)), imax(h0, const(0))))
                cw = E("sub", (imin(iadd(w0, const(kw)), const(W)), imax(w0, const(0))))
                count = cast(imul(ch, cw), out.dtype)
            return E("div", (gl(idx), count), out.dtype)
        lw.stage(share, spread)

    def lazy(idx):
        n, c, h, w = idx
        rh, rw = lw.fresh(kh), lw.fresh(kw)
        vh, oh = _tap_source(h, ivar(rh), sh, ph, 1, OH)
        vw, ow = _tap_source(w, ivar(rw), sw, pw, 1, OW)
        valid = both(vh, vw)
        if is_max:
            hit = E("eq", (load(am, (n, c, oh, ow)), cast(iadd(imul(ivar(rh), const(kw)), ivar(rw)), "i32")), "bool")
            valid = both(valid, hit)
            value = gl((n, c, oh, ow))
        else:
            value = load(share, (n, c, oh, ow))
        body = select(valid, value, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, (rh, rw), (kh, kw)))
    lw.stage(out, lazy)


def _lower_take_grad(lw, node, args, types, out) -> None:
    """out[.., s, ..] = sum over index positions j with idx[j] == s of g[.., j, ..]."""
    tg, ti = types
    gl, il = args
    axis = node.attrs["axis"]
    k = len(ti.shape)

    def lazy(idx):
        rv = tuple(lw.fresh(d) for d in ti.shape)
        pos = tuple(ivar(v) for v in rv)
        hit = E("eq", (cast(il(pos), INDEX), idx[axis]), "bool")
        value = gl(tuple(idx[:axis]) + pos + tuple(idx[axis + 1:]))
        body = select(hit, value, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, rv, tuple(ti.shape)))
    if k == 0:
        lw.stage(out, lambda idx: select(E("eq", (cast(il(()), INDEX), idx[axis]), "bool"),
                                         gl(tuple(idx[:axis]) + tuple(idx[axis + 1:])), const(0, out.dtype)))
    else:
        lw.stage(out, lazy)


_GRAD_RULES = {"conv2d_input_grad": _lower_conv_input_grad, "conv2d_weight_grad": _lower_conv_weight_grad,
               "max_pool2d_grad": _lower_pool_grad, "avg_pool2d_grad": _lower_pool_grad,
               "take_grad": _lower_take_grad}


def _flat_in_order(lw: _Lowering, stage: Stage, temp: Buffer, reads: list[E]) -> bool:
    """Whether every read of `temp` in `stage` is at the element with the same flat index as the
    element being written (a reshape chain, the identity, ...); checked by evaluating the index
    maps on every point (or a large sample of them)."""
    out = lw.kernel.buffers[stage.out]
    total = out.size
    if total != temp.size:
        return False
    strides = temp.strides()
    own = dict(zip(stage.vars, out.strides()))
    lins = []
    for r in reads:    # affine reads: compare the flat offsets exactly
        lin: Optional[dict] = {None: 0}
        for i, st in zip(r.args, strides):
            a = affine(i)
            if a is None:
                lin = None
                break
            for v, c in a.items():
                lin[v] = lin.get(v, 0) + c * st
        lins.append(lin)
    if all(lin is not None for lin in lins):
        return all({v: c for v, c in lin.items() if c} == {v: c for v, c in own.items() if c} for lin in lins)
    rng = numpy.random.default_rng(0)
    # otherwise by evaluation: every point up to 64K elements; beyond that the first and last
    # rows and 64K random points
    flat = numpy.arange(total, dtype=numpy.int64) if total <= 1 << 16 else numpy.concatenate(
        [numpy.arange(4096), total - 1 - numpy.arange(4096), rng.integers(0, total, 1 << 16)]).astype(numpy.int64)
    env, rest = {}, flat
    for v, d in zip(reversed(stage.vars), reversed(out.shape)):
        env[v] = rest % d
        rest = rest // d
    for r in reads:
        got = sum((evaluate(i, env) * st for i, st in zip(r.args, strides)), numpy.int64(0))
        if not numpy.array_equal(numpy.broadcast_to(got, flat.shape), flat):
            return False
    return True


def _fold_epilogues(lw: _Lowering) -> None:
    """Move the elementwise stage after a GEMM into the GEMM's epilogue when it reads the
    product only at the element it writes (up to reshapes): it then writes the final buffer
    directly, tile by tile, and the product never round-trips memory."""
    k = lw.kernel
    stages = k.stages
    for i, g in enumerate(stages):
        if not isinstance(g, GemmStage) or k.buffers[g.out].role != "temp" or i + 1 >= len(stages):
            continue
        nxt = stages[i + 1]
        temp = k.buffers[g.out]
        if not isinstance(nxt, Stage) or k.buffers[nxt.out].dtype != temp.dtype:
            continue
        nodes = list(walk(nxt.expr))
        reads = [n for n in nodes if n.op == "load" and n.value == g.out]
        if any(n.op == "reduce" for n in nodes) or any(n.op == "load" and n.value == nxt.out for n in nodes):
            continue
        if any(isinstance(s, Stage) and any(n.op == "load" and n.value == g.out for n in walk(s.expr))
               or isinstance(s, GemmStage) and g.out in (s.a, s.b) for s in stages[i + 2:]):
            continue
        if not _flat_in_order(lw, nxt, temp, reads):
            continue
        # stage index of the C element (batch, m, n): unflatten its flat index
        flat = _linear(g.out_index, temp.shape)
        out_shape = k.buffers[nxt.out].shape
        mapping, rest_stride = {}, 1
        for v, d in zip(reversed(nxt.vars), reversed(out_shape)):
            mapping[v] = _div_mod("mod", _div_mod("idiv", flat, rest_stride, k.extents), d, k.extents)
            rest_stride *= d
        body = _replace_loads(nxt.expr, g.out, E("acc", (), temp.dtype))
        g.epilogue = simplify(substitute(body, mapping), k.extents)
        del k.buffers[g.out]
        g.out = nxt.out
        stages.pop(i + 1)


def _replace_loads(e: E, name: str, repl: E) -> E:
    memo: dict[int, E] = {}

    def go(e: E) -> E:
        if id(e) in memo:
            return memo[id(e)]
        if e.op == "load" and e.value == name:
            out = repl
        elif e.args:
            args = tuple(go(a) for a in e.args)
            out = E(e.op, args, e.dtype, e.value) if args != e.args else e
        else:
            out = e
        memo[id(e)] = out
        return out
    return go(e)


def _memo(lazy: Lazy) -> Lazy:
    """Share the expression of a value read at the same index by several consumers, so
    reuse builds a DAG (rendered once) rather than an exponentially growing tree."""
    cache: dict[tuple, E] = {}

    def read(idx):
        k = tuple(i.key() for i in idx)
        got = cache.get(k)
        if got is None:
            got = cache[k] = lazy(idx)
        return got
    return read


def lower_node(node: Node, name: Optional[str] = None) -> Kernel:
    """The Kernel of a fused node (its subgraph) or of a plain primitive node."""
    name = name or node.attrs.get("name") or node.op
    lw = _Lowering(name)
    if node.subgraph is not None:
        graph = node.subgraph
    else:
        graph = Graph(name)
        ins = [graph.add_input(f"i{i}", v.type) for i, v in enumerate(node.inputs)]
        inner = graph.add_node(node.op, ins, node.attrs, output_types=[v.type for v in node.outputs])
        graph.outputs = list(inner.outputs)
    env: dict[Value, Lazy] = {}
    for i, v in enumerate(graph.inputs):
        buf = lw.buffer("in", v.shape, v.dtype, "input", i)
        env[v] = (lambda b: lambda idx: load(b, idx))(buf)
    outs = [lw.buffer("out", v.shape, v.dtype, "output", i) for i, v in enumerate(graph.outputs)]
    for n in graph.nodes:
        lazies = _lower_value(lw, n, [env[v] for v in n.inputs], [v.type for v in n.inputs])
        for v, lz in zip(n.outputs, lazies):
            env[v] = _memo(lz)
    # Retarget a materialized temp to the output it becomes, else compute the output.
    renames = []   # applied last: lazies built earlier still name the temp
    for v, buf in zip(graph.outputs, outs):
        lazy = env[v]
        found = identity_buffer(lazy, v.shape, lw)
        target = lw.kernel.buffers.get(found[0]) if found and found[1] is None else None
        if target is not None and target.role == "temp" and sum(
                1 for o in graph.outputs if o is v) == 1:
            renames.append((target.name, buf.name))
        else:
            lw.stage(buf, lazy)
    for old, new in renames:
        _rename(lw.kernel, old, new)
    _fold_epilogues(lw)
    return lw.kernel


def _rename(k: Kernel, old: str, new: str) -> None:
    del k.buffers[old]
    for i, s in enumerate(k.stages):
        if isinstance(s, Stage):
            if s.out == old:
                s.out = new
            s.expr = _rename_loads(s.expr, old, new)
        else:
            for f in ("out", "a", "b"):
                if getattr(s, f) == old:
                    setattr(s, f, new)
            if s.epilogue is not None:
                s.epilogue = _rename_loads(s.epilogue, old, new)


def _rename_loads(e: E, old: str, new: str) -> E:
    memo: dict[int, E] = {}

    def go(e: E) -> E:
        if id(e) in memo:
            return memo[id(e)]
        args = tuple(go(a) for a in e.args)
        value = new if e.op == "load" and e.value == old else e.value
        out = E(e.op, args, e.dtype, value) if (args != e.args or value != e.value) else e
        memo[id(e)] = out
        return out
    return go(e)
