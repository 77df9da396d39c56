"""`lower_node`: a fused (or plain primitive) node's graph -> `Kernel` (the stages are listed in
the package doc). The lazy forms of every value, reductions and pooling are here; GEMMs,
gradient ops and epilogue folding have their own modules."""
from __future__ import annotations

import math
from typing import Optional

import numpy

from ...errors import HybridError
from ...ir import scalar as S
from ...ir.graph import Graph, Node, Value
from ...ir.ops.decomp import svd_sizes
from ...ir.registry import get_op
from ...ir.types import COMPLEX_OF, COMPLEX_PART, TensorType
from .. import lapack
from .context import Lazy, _identity_of, _linear, _Lowering, identity_buffer
from .describe import Buffer, Kernel, LapackStage, PoolGeometry, Reduction, SortStage, Stage
from .epilogue import _fold_epilogues
from .expr import (INDEX, E, both, cast, clamp, const, iadd, iconst_op, imax, imin, imul, in_range, ivar, load,
                   select)
from .blocked import from_blocked_map, to_blocked_map
from .gemm import _lower_conv, _lower_matmul
from .grads import _GRAD_RULES
from .scalar import from_scalar


def _broadcast_index(idx: tuple, shape: tuple[int, ...]) -> tuple:
    """Index into an operand of `shape` broadcast against an output indexed by idx."""
    idx = idx[len(idx) - len(shape):] if shape else ()
    return tuple(const(0) if d == 1 else i for i, d in zip(idx, shape))


def _reshape_index(idx: tuple, out_shape: tuple[int, ...], in_shape: tuple[int, ...]) -> tuple:
    """Map an index of the reshaped array to an index of the source, group by group: dims
    are split into runs whose sizes multiply to the same product, so a reshape that only
    merges or splits neighbouring axes stays affine where it can."""
    if math.prod(in_shape) == 0:   # an empty source is never read (every loop over it is empty)
        return tuple(const(0) for _ in in_shape)
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
        if op == "pow" and env_types[1].dtype in ("i8", "i32", "i64"):
            lw.check(node, "exponent", args[1], shapes[1], 0, None, f"an {env_types[1]} exponent")

        def lazy(idx, expr=expr, args=args, shapes=shapes):
            operands = [a(_broadcast_index(idx, s)) for a, s in zip(args, shapes)]
            return from_scalar(expr, operands, out_t.dtype)
        return [lazy]

    if op in ("view_real", "view_complex"):    # a complex value is stored as its (re, im) pairs: the same loads
        return [args[0]]
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
    if op == "from_blocked":
        return [from_blocked_map(args[0], env_types[0].shape[4], attrs["pad"])]
    if op == "to_blocked":      # materialized: the copy is a stage of its own (llvm/conv_rewrite.py)
        (a,), (t,) = args, env_types
        copy = lw.buffer("t", out_t.shape, out_t.dtype, "temp")
        src = lw.materialize(a, t)
        lw.stage(copy, to_blocked_map(lambda idx: load(src, idx), t.shape, attrs["block"], attrs["pad"], t.dtype))
        return [lambda idx: load(copy, idx)]
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
        lw.check(node, "index", ix, ti.shape, 0, ta.shape[axis] - 1,
                 f"axis {axis} of a {ta} array (indices {ti})")

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
    elif op in ("conv2d", "conv2d_blocked"):
        _lower_conv(lw, node, args, env_types, out)
    elif op == "argsort":
        (t,) = env_types
        src = lw.materialize(args[0], t)
        scratch = lw.buffer("t", out_t.shape, "i64", "temp")
        lw.kernel.stages.append(SortStage(out.name, src.name, scratch.name, math.prod(t.shape[:-1]), t.shape[-1], t.dtype))
    elif op in ("svd", "eigh"):
        _lower_lapack(lw, node, args[0], env_types[0], out)
    elif op in _GRAD_RULES:
        _GRAD_RULES[op](lw, node, args, env_types, out)
    else:
        raise HybridError(f"kernel lowering has no rule for op {op!r} (kind {opdef.kind}); "
                          "add one in hybrid/codegen/kernel/")
    return [lambda idx, out=out: load(out, idx)]


def _lower_lapack(lw: _Lowering, node: Node, a: Lazy, t: TensorType, out: Buffer) -> None:
    """svd/eigh: the operand materialized, LAPACK's scratch arrays as temps (codegen/lapack.py); a
    complex matrix (pairs=True) keeps its (re, im) pairs in real buffers of twice the size."""
    pairs = bool(node.attrs.get("pairs", False))
    part = t.dtype
    dtype = COMPLEX_OF[part] if pairs else part
    m, n = t.shape[-3:-1] if pairs else t.shape[-2:]
    width = 2 if pairs else 1
    full = bool(node.attrs.get("full_matrices", False))
    vectors = bool(node.attrs.get("compute_uv", True))
    src = lw.materialize(a, t)
    ws = lapack.workspace(node.op, dtype, m, n, full, vectors)

    def temp(count: int, of: str = part) -> str:
        return lw.buffer("t", (max(1, count),), of, "temp").name
    u = vt = rwork = values = None
    if node.op == "svd" and vectors:
        _, mu, nv = svd_sizes(m, n, full)
        u, vt = temp(m * mu * width), temp(nv * n * width)
    if pairs:
        rwork = temp(ws.lrwork)
        if node.op == "eigh" or vectors:
            values = temp(min(m, n))
    lw.kernel.stages.append(LapackStage(
        node.op, out.name, src.name, temp(m * n * width), u, vt, temp(ws.lwork * width), temp(ws.liwork, "i32"),
        math.prod(t.shape[:-3] if pairs else t.shape[:-2]), m, n, dtype, ws.lwork, ws.liwork, full,
        node.attrs.get("uplo", "L"), vectors, rwork, ws.lrwork, values))


def _lower_reduce(lw: _Lowering, node: Node, a: Lazy, t: TensorType, out: Buffer) -> None:
    op = node.op
    axes = (node.attrs["axis"],) if op == "argmax" else tuple(node.attrs["axes"])
    keep = node.attrs["keepdims"]
    combine = "argmax" if op == "argmax" else get_op(op).extra["combine"]
    identity = _identity_of(op, t.dtype)
    if not axes:   # a reduction over no axes (of a 0-d value) is its operand
        lw.stage(out, lambda idx: cast(a(idx), out.dtype))
        return

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
    # the operand computed once into a buffer (no copy of a kernel input): in a convolution's kernel
    # (fuse.py) its activation then folds into the convolution's epilogue, and the pooling reads the result
    src = lw.materialize(a, t)
    a = lambda idx: load(src, idx)   # noqa: E731

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
    lw.kernel.stages[-1].pool = PoolGeometry(node.op, (kh, kw), (sh, sw), (ph, pw),
                                             bool(node.attrs.get("count_include_pad", True)))


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


def _storage(t: TensorType) -> tuple[tuple[int, ...], str]:
    """How a value's buffer is indexed: complex values (only ever read by view_real or written by
    view_complex: passes/lower_complex.py) as (re, im) pairs along an extra last axis."""
    if t.dtype in COMPLEX_PART:
        return t.shape + (2,), COMPLEX_PART[t.dtype]
    return t.shape, t.dtype


def _refuse_complex(n: Node) -> None:
    """Kernels compute complex values only as (re, im) pairs, after passes/lower_complex.py."""
    if n.op in ("view_real", "view_complex"):
        return
    for v in list(n.inputs) + list(n.outputs):
        if v.dtype in COMPLEX_PART:
            where = f" at {n.loc}" if n.loc else ""
            raise HybridError(f"{n.op} on {v.dtype}{where}: compiled code computes complex values only after the "
                              "lower_complex pass (every pass pipeline runs it first); run hybrid.passes.optimize "
                              "on this graph before compiling it")


def lower_node(node: Node, name: Optional[str] = None) -> Kernel:
    """The Kernel of a fused node (its subgraph) or of a plain primitive node."""
    name = name or node.attrs.get("name") or node.op
    lw = _Lowering(name)
    if node.op == "fused":
        graph = node.regions[0]
    else:
        graph = Graph(name)
        ins = [graph.add_input(f"i{i}", v.type) for i, v in enumerate(node.inputs)]
        inner = graph.add_node(node.op, ins, node.attrs, node.loc, output_types=[v.type for v in node.outputs])
        graph.outputs = list(inner.outputs)
    env: dict[Value, Lazy] = {}
    for i, v in enumerate(graph.inputs):
        buf = lw.buffer("in", *_storage(v.type), "input", i)
        env[v] = (lambda b: lambda idx: load(b, idx))(buf)
    outs = [lw.buffer("out", *_storage(v.type), "output", i) for i, v in enumerate(graph.outputs)]
    if all(math.prod(v.shape) == 0 for v in graph.outputs):   # nothing to compute (nor to index into)
        return lw.kernel
    for n in graph.nodes:
        _refuse_complex(n)
        lazies = _lower_value(lw, n, [env[v] for v in n.inputs], [v.type for v in n.inputs])
        for v, lz in zip(n.outputs, lazies):
            env[v] = _memo(lz)
    # Retarget a materialized temp to the output it becomes, else compute the output.
    renames = []   # applied last: lazies built earlier still name the temp
    for v, buf in zip(graph.outputs, outs):
        lazy = env[v]
        found = identity_buffer(lazy, _storage(v.type)[0], lw)
        target = lw.kernel.buffers.get(found[0]) if found and found[1] is None else None
        if target is None and lazy in lw.materialized:      # computed into a temp already (for a GEMM, ...)
            target = lw.kernel.buffers[lw.materialized[lazy]]
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
        elif isinstance(s, (SortStage, LapackStage)):
            for f in ("out", "src", "scratch") if isinstance(s, SortStage) else ("out", "src"):
                if getattr(s, f) == old:
                    setattr(s, f, new)
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
