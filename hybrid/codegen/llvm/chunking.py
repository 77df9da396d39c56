"""Batch chunking of im2col convolutions (LLVM backend only).

A convolution lowers to "fill the column buffer for all N images, then one GEMM per image".
For a batch of feature maps that buffer is tens of MB, so it goes to DRAM and back. Here the
pair is cut into chunks of images whose columns fit about CHUNK_BYTES: fill the columns of a
chunk, multiply them, move on; the column buffer shrinks to one chunk and stays in cache.

The chunk size divides the batch, so every chunk has the same shape and one runtime loop
(`ChunkLoop`) runs them. The GEMM writes through a *view* (a buffer with role "view": no
memory of its own; the renderer points it into the output at the chunk's first image).
"""
from __future__ import annotations

import dataclasses
import math

from ..kernel import Buffer, GemmStage, Kernel, Stage, fresh_var, iadd, ivar, simplify, substitute, walk

CHUNK_BYTES = 1 << 22


def _reads(stage, name: str) -> bool:
    if isinstance(stage, GemmStage):
        return name in (stage.a, stage.b) or (stage.epilogue is not None and any(
            n.op == "load" and n.value == name for n in walk(stage.epilogue)))
    if not isinstance(stage, Stage):      # a DirectConv or PackInput (conv_direct.py)
        return name in (getattr(stage, "x", None), getattr(stage, "w", None))
    return any(n.op == "load" and n.value == name for n in walk(stage.expr))


@dataclasses.dataclass
class ChunkLoop:
    """for j in range(count): n0 = j * chunk; run `im2col` then `gemm` with `base_var` = n0 and
    the view `out_view` of `parent` starting at byte n0 * row_bytes (a runtime loop: the code
    does not grow with the number of chunks)."""
    base_var: int
    count: int
    chunk: int
    im2col: Stage
    gemm: GemmStage
    out_view: str
    parent: str
    row_bytes: int


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def chunk_convolutions(k: Kernel) -> None:
    stages, out = k.stages, []
    i = 0
    while i < len(stages):
        s = stages[i]
        g = stages[i + 1] if i + 1 < len(stages) else None
        col = k.buffers.get(s.out) if isinstance(s, Stage) else None
        if not (col is not None and isinstance(g, GemmStage) and g.b == col.name and col.role == "temp"
                and g.batch_shape and col.shape[0] == g.batch_shape[0] and g.a_strides[0] == 0
                and g.b_strides[0] == math.prod(col.shape[1:]) and g.a != col.name
                and k.buffers[g.out].shape[0] == g.batch_shape[0]
                and g.c_strides[0] == math.prod(k.buffers[g.out].shape[1:])
                and not any(_reads(t, col.name) for t in stages[i + 2:])):
            out.append(s)
            i += 1
            continue
        n = col.shape[0]
        chunk = _largest_divisor_at_most(n, CHUNK_BYTES // max(1, col.nbytes // n))
        if chunk >= n:
            out.append(s)
            i += 1
            continue
        k.buffers[col.name] = Buffer(col.name, (chunk,) + col.shape[1:], col.dtype, "temp")
        target = k.buffers[g.out]
        view = Buffer(f"{g.out}@chunk", (chunk,) + target.shape[1:], target.dtype, "view")
        k.buffers[view.name] = view
        base = fresh_var(k, n)
        svars = tuple(fresh_var(k, chunk if d == 0 else col.shape[d]) for d in range(len(s.vars)))
        mapping = {v: ivar(nv) for v, nv in zip(s.vars, svars)}
        mapping[s.vars[0]] = iadd(ivar(svars[0]), ivar(base))
        im2col = Stage(col.name, svars, simplify(substitute(s.expr, mapping), k.extents))
        bn = fresh_var(k, chunk)
        epilogue = g.epilogue
        if epilogue is not None:
            epilogue = simplify(substitute(epilogue, {g.batch_vars[0]: iadd(ivar(bn), ivar(base))}), k.extents)
        gemm = dataclasses.replace(g, out=view.name, batch_shape=(chunk,) + g.batch_shape[1:],
                                   batch_vars=(bn,) + g.batch_vars[1:], epilogue=epilogue)
        row_bytes = math.prod(target.shape[1:]) * (target.nbytes // max(1, target.size))
        out.append(ChunkLoop(base, n // chunk, chunk, im2col, gemm, view.name, target.name, row_bytes))
        i += 2
    k.stages = out


