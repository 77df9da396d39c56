"""CUDA C statements for kernel-description expressions (`E`), shared by every launch template.

`Body` renders an expression into named locals, one per distinct subexpression per scope
(structural keys, so `x - mean` used twice is computed once). Loop variables are bound to C
names by the template; loads flatten their index with the buffer's row-major strides; a
`reduce` renders as a sequential loop unless the template bound it to a register (the
cooperative row kernels do). In vector mode (`lanes` > 1) the template's innermost variable
takes `base + lane`, loads that run along it become one 128-bit load, and everything that
does not depend on it is shared by the lanes.
"""
from __future__ import annotations

import math
from typing import Optional

from ...errors import HybridError
from ..kernel import INDEX, E, Kernel
from . import cexpr

_INDEX_OPS = {"ivar", "const", "add", "sub", "mul", "idiv", "mod", "min", "max"}
VECTOR_TYPE = {"f32": "float4", "i32": "int4", "u32": "uint4"}


class Body:
    def __init__(self, kernel: Kernel, ptrs: dict[str, str], index_ctype: str = "int"):
        self.kernel = kernel
        self.ptrs = ptrs                    # buffer name -> C parameter name
        self.itype = index_ctype
        self.lines: list[str] = []
        self.indent = 1
        self.scopes: list[dict] = [{}]
        self.counter = 0
        self.vars: dict[int, str] = {}      # loop variable id -> C expression
        self.regs: dict[tuple, str] = {}    # expression key -> register the template filled
        self.acc: Optional[str] = None      # the GEMM product in an epilogue
        self.lane_var: Optional[int] = None  # vector mode: the variable that takes base + lane
        self.cache: Optional[tuple] = None   # (buffers, values per lane, line to declare at): row kernels
        self._cached: dict[tuple, str] = {}
        self._cache_decls: list[str] = []
        self._keys: dict[int, int] = {}
        self._interned: dict[tuple, int] = {}
        self._index: dict[int, bool] = {}
        self._dep: dict[int, bool] = {}

    # -- statements ---------------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.lines.append("  " * self.indent + text)

    def open(self, header: str) -> None:
        self.line(header + " {")
        self.indent += 1
        self.scopes.append({})

    def close(self) -> None:
        self.indent -= 1
        self.scopes.pop()
        self.line("}")

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def local(self, ctype: str, expr: str, key=None, prefix: str = "t") -> str:
        key = key if key is not None else ("c", ctype, expr)
        for scope in reversed(self.scopes):
            if key in scope:
                return scope[key]
        name = self.fresh(prefix)
        self.line(f"const {ctype} {name} = {expr};")
        self.scopes[-1][key] = name
        return name

    def text(self) -> str:
        return "\n".join(self.lines)

    # -- expression facts ----------------------------------------------------------------------
    def key(self, e: E) -> int:
        """e's structure as a number: equal expressions get equal keys. Interned one node at a time
        (a nested tuple would hash its whole tree, exponential in the depth of a DAG that reuses
        subexpressions, as complex functions' selects do)."""
        k = self._keys.get(id(e))
        if k is None:
            value = e.value
            if isinstance(value, float) and value != value:
                value = "nan"
            node = (e.op, e.dtype, value, tuple(self.key(a) for a in e.args))
            k = self._interned.setdefault(node, len(self._interned))
            self._keys[id(e)] = k
        return k

    def is_index(self, e: E) -> bool:
        """Index arithmetic (rendered with the kernel's index type, % for mod) vs i64 data."""
        got = self._index.get(id(e))
        if got is None:
            got = e.dtype == INDEX and e.op in _INDEX_OPS and all(self.is_index(a) for a in e.args)
            self._index[id(e)] = got
        return got

    def depends(self, e: E) -> bool:
        """Does e vary with the vector lane?"""
        if self.lane_var is None:
            return False
        got = self._dep.get(id(e))
        if got is None:
            got = (e.op == "ivar" and e.value == self.lane_var) or any(self.depends(a) for a in e.args)
            self._dep[id(e)] = got
        return got

    def set_lane_var(self, var: int) -> None:
        """Vector mode over loop variable `var` (each stage of a launch has its own variables)."""
        self.lane_var = var
        self._dep.clear()

    def ctype(self, e: E) -> str:
        return self.itype if self.is_index(e) else cexpr.RTYPE[e.dtype]

    # -- rendering -----------------------------------------------------------------------------
    def expr(self, e: E, lane: int = 0) -> str:
        """A C name (or literal) holding e's value."""
        if e.op == "const":
            return self._literal(e)
        k = self.key(e)
        lane = lane if self.depends(e) else 0
        if k in self.regs:
            return self.regs[k]
        full = ("e", k, lane)
        for scope in reversed(self.scopes):
            if full in scope:
                return scope[full]
        if e.op == "reduce":
            name = self._reduce(e, lane)
            self.scopes[-1][full] = name
            return name
        return self.local(self.ctype(e), self._compute(e, lane), full)

    def _literal(self, e: E) -> str:
        if self.is_index(e):
            return str(int(e.value)) if self.itype == "int" else f"{int(e.value)}LL"
        return cexpr.literal(e.value, e.dtype)

    def flat_index(self, name: str, index: tuple, lane: int = 0) -> str:
        strides = self.kernel.buffers[name].strides()
        terms = []
        for a, s in zip(index, strides):
            if a.op == "const" and a.value == 0:
                continue
            c = self.expr(a, lane)
            terms.append(c if s == 1 else f"{c} * {s}")
        return " + ".join(terms) or "0"

    def _compute(self, e: E, lane: int) -> str:
        op = e.op
        if op == "ivar":
            if e.value not in self.vars:
                raise HybridError(f"cuda: loop variable v{e.value} is not bound in this template")
            base = self.vars[e.value]
            return base if lane == 0 else f"{base} + {lane}"
        if op == "load":
            return self._load(e, lane)
        if op == "acc":
            if self.acc is None:
                raise HybridError("cuda: `acc` outside a GEMM epilogue")
            return cexpr.rounded(self.acc, e.dtype)   # a 16-bit product, as the epilogue reads it
        args = [self.expr(a, lane) for a in e.args]
        if op == "idiv":
            return f"({args[0]} / {args[1]})"
        if op == "mod" and self.is_index(e):
            return f"({args[0]} % {args[1]})"
        if op == "shr":
            return f"({args[0]} >> {args[1]})"
        if op == "threefry":
            return f"hb_threefry({args[0]}, {args[1]}, {args[2]})"
        operand = e.args[1] if op == "select" else e.args[0]
        arg_dtype = "index" if self.is_index(operand) else operand.dtype
        return cexpr.scalar_op(op, args, arg_dtype, e.dtype, e.value, self.itype)

    def _load(self, e: E, lane: int) -> str:
        name = e.value
        ptr = self.ptrs[name]
        if self.cache is not None and name in self.cache[0]:
            return self._cached_load(e)
        if lane == 0 and not self.depends(e):
            return cexpr.load(ptr, self.flat_index(name, e.args), e.dtype)
        # vector mode: the template checked the last index is the lane variable (vector_loads_ok)
        vtype = VECTOR_TYPE[e.dtype]
        flat0 = self.flat_index(name, e.args, 0)
        vec = self.local(vtype, f"*reinterpret_cast<const {vtype}*>({ptr} + {flat0})",
                         key=("vec", name, flat0), prefix="q")
        return f"{vec}.{'xyzw'[lane]}"

    def _cached_load(self, e: E) -> str:
        """Row kernels: the first pass keeps what it loads in a per-lane array indexed by the
        unrolled iteration `it`; later passes with the same index read the array."""
        key = (e.value, tuple(self._canonical(a) for a in e.args))
        if key in self._cached:
            return f"{self._cached[key]}[it]"
        flat = self.flat_index(e.value, e.args)
        array = self.fresh("cache")
        self._cached[key] = array
        self._cache_decls.append(f"{cexpr.RTYPE[e.dtype]} {array}[{self.cache[1]}];")
        value = self.local(cexpr.RTYPE[e.dtype], cexpr.load(self.ptrs[e.value], flat, e.dtype))
        self.line(f"{array}[it] = {value};")
        return value

    def _canonical(self, e: E) -> str:
        """An index expression in terms of what its variables are bound to (equal across passes)."""
        if e.op == "ivar":
            return self.vars[e.value]
        if e.op == "const":
            return repr(e.value)
        return f"{e.op}({', '.join(self._canonical(a) for a in e.args)})"

    def finish_cache(self) -> None:
        """Declare the cache arrays where the template asked (before the first pass)."""
        if self.cache is not None:
            at = self.cache[2]
            self.lines[at:at] = ["  " + d for d in self._cache_decls]

    def _reduce(self, e: E, lane: int) -> str:
        """A reduction as a sequential loop in this thread (windows, short rows)."""
        red = e.value
        body = e.args[0]
        acc = self.fresh("a")
        ident = reduce_identity(red, body.dtype)
        if red.combine == "argmax":
            self.line(f"hb_argpair<{cexpr.ACCTYPE[body.dtype]}> {acc} = {{{ident}, -1}};")
        else:
            self.line(f"{cexpr.ACCTYPE[e.dtype]} {acc} = {ident};")
        names = []
        for v, extent in zip(red.vars, red.extents):
            name = self.fresh("r")
            names.append(name)
            self.open(f"for ({self.itype} {name} = 0; {name} < {extent}; ++{name})")
            self.vars[v] = name
        value = self.expr(body, lane)
        if red.combine == "argmax":
            flat = names[0]
            for name, extent in zip(names[1:], red.extents[1:]):
                flat = f"({flat}) * {extent} + {name}"
            self.line(f"{acc} = hb_argbest({acc}, hb_argpair<{cexpr.ACCTYPE[body.dtype]}>{{{value}, (int)({flat})}});")
        else:
            self.line(f"{acc} = {combine_expr(red.combine, acc, value, cexpr.ACCTYPE[e.dtype])};")
        for _ in names:
            self.close()
        return f"{acc}.i" if red.combine == "argmax" else self.local(cexpr.RTYPE[e.dtype], cexpr.rounded(acc, e.dtype))


def bind_flat(body: Body, vars_: tuple, shape: tuple, j: str) -> None:
    """Bind loop variables over `shape` to the coordinates of the flat index `j`."""
    inner = 1
    for v, d in reversed(list(zip(vars_, shape))):
        c = j if inner == 1 else f"({j} / {inner})"
        if inner * d < math.prod(shape):
            c = f"({c} % {d})"
        body.vars[v] = c if d != 1 else "0"
        inner *= d



def combine_expr(combine: str, a: str, b: str, ctype: str) -> str:
    return {"add": f"{a} + {b}", "mul": f"{a} * {b}", "max": f"hb_max<{ctype}>({a}, {b})",
            "min": f"hb_min<{ctype}>({a}, {b})"}[combine]


COMBINE_OP = {"add": "hb_add", "mul": "hb_mul", "max": "hb_maxop", "min": "hb_minop"}


def reduce_identity(red, dtype: str) -> str:
    if red.combine == "argmax":
        return cexpr.literal(0, dtype)
    ident = red.identity
    if dtype in ("i8", "u8", "bool"):  # accumulated in int
        return str(int(ident))
    return cexpr.literal(ident, dtype)


def param_list(kernel: Kernel, names: list[str]) -> str:
    parts = []
    for i, name in enumerate(names):
        buf = kernel.buffers[name]
        ctype = cexpr.CTYPE[buf.dtype]
        const = "" if buf.role in ("output", "temp", "check") else "const "
        parts.append(f"{const}{ctype}* p{i}")
    return ", ".join(parts)


def index_ctype(kernel: Kernel) -> str:
    """32-bit index arithmetic (fast division) unless a buffer or loop reaches 2^31."""
    biggest = max([b.size for b in kernel.buffers.values()] + list(kernel.extents.values()) + [0])
    return "long long" if biggest >= 2 ** 31 - 1 else "int"
