"""Folding a GEMM's elementwise tail into its epilogue, when the tail reads the product only
at the element it writes (bias, activation, residual, up to reshapes)."""
from __future__ import annotations

import numpy

from .context import _linear, _Lowering
from .describe import Buffer, GemmStage, Stage
from .expr import E, rewrite, substitute, walk
from .index_math import _div_mod, evaluate, flat_affine, simplify


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
    lins = [flat_affine(r.args, strides) for r in reads]  # affine reads: compare the flat offsets exactly
    if all(lin is not None for lin in lins):
        def terms(lin: dict) -> dict:       # a variable of extent 1 is always 0 (simplify drops it from reads)
            return {v: c for v, c in lin.items() if c and lw.kernel.extents.get(v) != 1}
        return all(terms(lin) == terms(own) for lin in lins)
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
        acc = E("acc", (), temp.dtype)
        body = rewrite(nxt.expr, lambda n: acc if n.op == "load" and n.value == g.out else None)
        g.epilogue = simplify(substitute(body, mapping), k.extents)
        del k.buffers[g.out]
        g.out = nxt.out
        stages.pop(i + 1)
