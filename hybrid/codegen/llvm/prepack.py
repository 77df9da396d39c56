"""Pre-packing GEMM operands into register-tile panels (LLVM backend only): three rewrites of a
kernel, each leaving a GEMM that reads its panels in place (transA / transB = PACKED in gemm.py).

pack_im2col (per call, before chunking). A convolution's im2col writes the column matrix that the
GEMM then packs again: two passes over its biggest array (ResNet-18's first stage: 9 MB per image).
Where a panel of NR columns is a run of one output row (OW a multiple of NR), im2col writes the
packed panels directly instead.
  1. find an im2col stage (N, G, Cg, KH, KW, OH, OW) feeding a GEMM as its B, OW % NR == 0;
  2. re-index it to fill the packed layout (N, G, K blocks, panels, kblock + slack, NR), zero
     beyond K, and point the GEMM at it.

prepack_weights (per call). A convolution multiplies the same weights by every image's columns:
one GEMM per image, each packing the whole weight matrix again (ResNet-18's last stage: 9 MB of
weights packed 8 times per forward). Such a GEMM gets a scratch buffer that the renderer packs A
into once, split across the threads (`hybrid_sgemm_pack_a`).
  1. find f32 GEMMs split across threads (alone or inside a ChunkLoop) whose A is shared by
     at least two batch entries (a batch dim with A stride 0) and is whole M x K matrices;
  2. add a temp buffer `<A>@packed` for the distinct A matrices and record it on the GEMM.

prepack_params (across calls). A dense layer's weight matrix is a parameter, the same from call
to call, yet packing it (transposed) costs a pass over memory per call (the MLP's two 1024-wide
layers: ~5% of the forward). Such a GEMM reads B from a `prepacked` buffer that the runtime owns
and the entry point refills with `hybrid_sgemm_pack_b` only when the parameter changed (its write
token; runtime._PackedParams).
  1. find f32 GEMMs whose B is a kernel input that is a graph parameter, one matrix for
     every batch entry, except the narrow ones the dot-product kernel reads in place (gemm_dot.py);
  2. add a `prepacked` buffer `<B>@prepacked[KxN]` and record it on the GEMM; return what the
     runtime needs to fill it (`ParamPack`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple

from ..kernel import (Buffer, GemmStage, Kernel, Stage, both, clamp, const, iadd, iconst_op, imul, in_range, ivar,
                      select, simplify, substitute, walk)
from . import gemm
from .chunking import ChunkLoop, fresh_var


def _matrix_strides(g: GemmStage) -> tuple[int, ...] | None:
    """A's batch strides in whole matrices (None when A entries are not whole M x K matrices)."""
    size = g.M * g.K
    if any(s % size for s in g.a_strides):
        return None
    return tuple(s // size for s in g.a_strides)


def packed_strides(g: GemmStage) -> tuple[int, ...]:
    """Batch strides, in floats, into the packed buffer of `g`."""
    floats = gemm.packed_a_floats(g.M, g.K)
    return tuple(s * floats for s in _matrix_strides(g))


def matrix_count(g: GemmStage) -> int:
    """The distinct A matrices of `g` (packed one after another)."""
    return 1 + sum((d - 1) * s for d, s in zip(g.batch_shape, _matrix_strides(g)))


def _worth_packing(g: GemmStage, repeats: int) -> bool:
    shared = repeats * math.prod(d for d, s in zip(g.batch_shape, g.a_strides) if s == 0)
    return shared >= 2 and g.K > 0 and _matrix_strides(g) is not None


def prepack_weights(k: Kernel, parallel, impl: str) -> None:
    """Stages 1-2 on kernel `k`; `parallel(k, stage)` says whether a stage is split across threads."""
    if gemm.resolve_impl(impl) == "openblas":     # only the generated kernel reads packed panels
        return
    for i, stage in enumerate(k.stages):
        g, repeats = (stage.gemm, stage.count) if isinstance(stage, ChunkLoop) else (stage, 1)
        if not isinstance(g, GemmStage) or k.buffers[g.out].dtype != "f32" or not parallel(k, stage) \
                or not _worth_packing(g, repeats):
            continue
        name = f"{g.a}@packed"
        k.buffers[name] = Buffer(name, (matrix_count(g) * gemm.packed_a_floats(g.M, g.K),), "f32", "temp")
        packed = dataclasses.replace(g, packed_a=name)
        k.stages[i] = dataclasses.replace(stage, gemm=packed) if isinstance(stage, ChunkLoop) else packed


class ParamPack(NamedTuple):
    """A buffer the runtime keeps packed: op(B) (K x N, row stride ldb, transposed when trans) of
    kernel input `input_index`, in `hybrid_sgemm_pack_b`'s layout, in the kernel buffer `buffer`."""
    buffer: str
    input_index: int
    N: int
    K: int
    ldb: int
    trans: bool


def prepack_params(k: Kernel, is_param: Callable[[int], bool], impl: str) -> list[ParamPack]:
    """Stages 1-2 of the across-calls packing; `is_param(i)` says whether kernel input i is a parameter."""
    if gemm.resolve_impl(impl) == "openblas":
        return []
    packs = []
    for i, g in enumerate(k.stages):
        if not isinstance(g, GemmStage) or k.buffers[g.out].dtype != "f32" or any(g.b_strides):
            continue
        src = k.buffers[g.b]
        if src.role != "input" or not is_param(src.index) or g.K == 0:
            continue
        if gemm.host_config().runs_as_dot(g.N, g.K, g.trans_a, g.trans_b):   # reads the weight rows in place
            continue
        name = f"{g.b}@prepacked[{g.K}x{g.N}{'T' if g.trans_b else ''}]"
        if name not in k.buffers:
            k.buffers[name] = Buffer(name, (gemm.packed_b_floats(g.N, g.K),), "f32", "prepacked", len(packs))
            packs.append(ParamPack(name, src.index, g.N, g.K, g.ldb, g.trans_b))
        k.stages[i] = dataclasses.replace(g, packed_b=name)
    return packs


def _im2col_pair(k: Kernel, i: int):
    """(stage, gemm) when stage i is an im2col whose columns only the GEMM after it reads."""
    if i + 1 >= len(k.stages):
        return None
    s, g = k.stages[i], k.stages[i + 1]
    if not (isinstance(s, Stage) and isinstance(g, GemmStage) and g.b == s.out and not g.trans_b
            and g.packed_b is None and g.K > 0):
        return None
    col = k.buffers[s.out]
    if col.role != "temp" or col.dtype != "f32" or len(col.shape) != 7:
        return None
    n, groups, cg, kh, kw, oh, ow = col.shape
    if g.batch_shape != (n, groups) or g.K != cg * kh * kw or g.N != oh * ow or ow % gemm.host_config().nr:
        return None
    later = k.stages[:i] + k.stages[i + 2:]
    if any(isinstance(t, Stage) and any(e.op == "load" and e.value == col.name for e in walk(t.expr))
           or isinstance(t, GemmStage) and col.name in (t.a, t.b) for t in later):
        return None
    return s, g


def pack_im2col(k: Kernel, impl: str) -> None:
    """Stages 1-2 of the im2col packing on kernel `k`."""
    if gemm.resolve_impl(impl) == "openblas":
        return
    for i in range(len(k.stages)):
        pair = _im2col_pair(k, i)
        if pair is None:
            continue
        s, g = pair
        col = k.buffers[s.out]
        n, groups, cg, kh, kw, oh, ow = col.shape
        cfg = gemm.host_config()
        blocks, panels, rows, nr = gemm.packed_shape(g.N, g.K, cfg.nr, cfg)
        kblock = rows - gemm.slack_rows(nr, cfg)
        kb, j, kk, r = (fresh_var(k, e) for e in (blocks, panels, rows, nr))
        depth = iadd(imul(ivar(kb), const(kblock)), ivar(kk))
        c = clamp(depth, g.K - 1)          # rows past K read a valid element, then select 0
        per_row = ow // nr                 # panels per output row: a panel is NR columns of one row
        mapping = {s.vars[2]: iconst_op("idiv", c, kh * kw), s.vars[3]: iconst_op("mod", iconst_op("idiv", c, kw), kh),
                   s.vars[4]: iconst_op("mod", c, kw), s.vars[5]: iconst_op("idiv", ivar(j), per_row),
                   s.vars[6]: iadd(imul(iconst_op("mod", ivar(j), per_row), const(nr)), ivar(r))}
        valid = both(in_range(ivar(kk), 0, kblock), in_range(depth, 0, g.K))
        expr = select(valid, substitute(s.expr, mapping), const(0.0, "f32"))
        packed = Buffer(f"{col.name}@packed", (n, groups, blocks, panels, rows, nr), "f32", "temp")
        del k.buffers[col.name]
        k.buffers[packed.name] = packed
        k.stages[i] = Stage(packed.name, (s.vars[0], s.vars[1], kb, j, kk, r), simplify(expr, k.extents))
        floats = blocks * panels * rows * nr
        k.stages[i + 1] = dataclasses.replace(g, b=packed.name, packed_b=packed.name, ldb=g.N,
                                              b_strides=(groups * floats, floats))
