"""Lowering of matmul and conv2d to `GemmStage`s (conv2d: pad once, then an all-affine im2col
stage fills the column buffer that the GEMM reads as (N, G) stacks of Kc x P matrices; conv2d_blocked's
im2col reads its padded NCHW[b]c input in place)."""
from __future__ import annotations

import math

from ...ir.graph import Node
from ...ir.types import TensorType
from .blocked import from_blocked_map
from .context import Lazy, _Lowering, identity_buffer
from .describe import Buffer, ConvGeometry, GemmStage
from .expr import both, clamp, const, iadd, iconst_op, imul, in_range, ivar, load, select
from .index_math import flat_affine, simplify


def _gemm_operand(lw: _Lowering, lazy: Lazy, t: TensorType, trans: bool) -> tuple[Buffer, bool, tuple[int, ...]]:
    """(buffer, trans, shape): a buffer holding the operand row-major and the shape to read it as. Transposed
    views and reshapes of a whole buffer (x[8,128,256] as [1024,256]; a slice qkv[0] reshaped to drop its
    leading 1) are read in place; anything else is computed into a temp first."""
    found = identity_buffer(lazy, t.shape, lw)
    if found is not None:
        name, perm = found
        nd = len(t.shape)
        buf = lw.kernel.buffers[name]
        if perm is None:
            return buf, trans, buf.shape
        if perm == tuple(range(nd - 2)) + (nd - 1, nd - 2):
            return buf, not trans, buf.shape
    reshaped = _reshaped_buffer(lw, lazy, t.shape)
    if reshaped is not None:
        return reshaped, trans, tuple(t.shape)
    buf = lw.materialize(lazy, t)
    return buf, trans, buf.shape


def _reshaped_buffer(lw: _Lowering, lazy: Lazy, shape: tuple[int, ...]) -> Buffer | None:
    """The buffer `lazy` reads element for element in row-major order when viewed as `shape` (a reshape of the
    whole buffer: every element's flat offset is its flat index in `shape`)."""
    vars_ = tuple(lw.fresh(d) for d in shape)
    e = simplify(lazy(tuple(ivar(v) for v in vars_)), lw.kernel.extents)
    if e.op != "load":
        return None
    buf = lw.kernel.buffers[e.value]
    if buf.size != math.prod(shape):
        return None
    lin = flat_affine(e.args, buf.strides())
    if lin is None or lin.get(None, 0) != 0:
        return None
    own, stride = {}, 1
    for v, d in zip(reversed(vars_), reversed(shape)):
        if d != 1:          # a variable of extent 1 is always 0 (simplify drops it from reads)
            own[v] = stride
        stride *= d
    return buf if {v: c for v, c in lin.items() if v is not None and c} == own else None


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
    A, ta, a_shape = _gemm_operand(lw, args[0], types[0], ta)
    B, tb, b_shape = _gemm_operand(lw, args[1], types[1], tb)
    batch = out.shape[:-2]
    M, N = out.shape[-2:]
    K = types[0].shape[-2] if node.attrs.get("transpose_a", False) else types[0].shape[-1]
    bvars = tuple(lw.fresh(d) for d in batch)
    m, n = lw.fresh(M), lw.fresh(N)
    lw.kernel.stages.append(GemmStage(
        out.name, A.name, B.name, M, N, K, ta, tb, a_shape[-1], b_shape[-1], N, tuple(batch),
        _batch_strides(a_shape[:-2], batch, a_shape[-1] * a_shape[-2]),
        _batch_strides(b_shape[:-2], batch, b_shape[-1] * b_shape[-2]),
        _batch_strides(tuple(batch), batch, M * N), bvars, m, n,
        out_index=tuple(ivar(v) for v in bvars + (m, n))))


def _lower_conv(lw: _Lowering, node: Node, args: list[Lazy], types: list[TensorType], out: Buffer) -> None:
    """conv2d, or conv2d_blocked: its blocked input (padded already) is read in place by the im2col."""
    tx, tw = types
    O, Cg, KH, KW = tw.shape
    blocked = node.op == "conv2d_blocked"
    if blocked:
        N, _, H, W, block = tx.shape
        C, G, (ph, pw) = Cg, 1, (0, 0)
    else:
        (N, C, H, W), block = tx.shape, 0
        G, (ph, pw) = node.attrs["groups"], node.attrs["padding"]
    (sh, sw), (dh, dw) = node.attrs["stride"], node.attrs["dilation"]
    OH, OW = out.shape[2:]
    P, Kc, Og = OH * OW, Cg * KH * KW, O // G
    wbuf = lw.materialize(args[1], tw)
    direct, padded = None, None
    if KH == KW == 1 and sh == sw == 1 and ph == pw == 0 and G == 1 and not blocked:
        direct = identity_buffer(args[0], tx.shape, lw)
    if blocked:
        x = lw.materialize(args[0], tx)
        cols = col = lw.buffer("t", (N, G, Cg, KH, KW, OH, OW), tx.dtype, "temp")
        read = from_blocked_map(lambda idx: load(x, idx), block, (0, 0))
        lw.stage(col, lambda idx: read(_window(idx, Cg, (sh, sw), (dh, dw))))
        col_strides = (G * Kc * P, Kc * P)
    elif direct is not None and direct[1] is None:
        col = lw.kernel.buffers[direct[0]]
        col_strides = (C * H * W, 0)
        x, cols = col, None
    else:
        # Pad once (small), then im2col reads without bounds checks: every index is affine in
        # its loop variables, so the copy runs as plain (vectorizable) strided loads. The
        # column buffer (N, G, Cg, KH, KW, OH, OW) is the (N, G, Kc, P) matrix stack the GEMM reads.
        src = x = lw.materialize(args[0], tx)
        if ph or pw:
            padded = lw.buffer("t", (N, C, H + 2 * ph, W + 2 * pw), tx.dtype, "temp")

            def pad(idx):
                n, c, h, w = idx
                ih, iw = iadd(h, const(-ph)), iadd(w, const(-pw))
                valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
                return select(valid, load(x, (n, c, clamp(ih, H - 1), clamp(iw, W - 1))), const(0, tx.dtype))
            lw.stage(padded, pad)
            src = padded
        cols = col = lw.buffer("t", (N, G, Cg, KH, KW, OH, OW), tx.dtype, "temp")

        lw.stage(col, lambda idx: load(src, _window(idx, Cg, (sh, sw), (dh, dw))))
        col_strides = (G * Kc * P, Kc * P)
    bn, bg = lw.fresh(N), lw.fresh(G)
    m, p = lw.fresh(Og), lw.fresh(P)
    out_index = (ivar(bn), iadd(imul(ivar(bg), const(Og)), ivar(m)),
                 iconst_op("idiv", ivar(p), OW), iconst_op("mod", ivar(p), OW))
    geometry = ConvGeometry(x.name, wbuf.name, cols and cols.name, padded and padded.name, (N, C, H, W),
                            tuple(tw.shape), (sh, sw), (ph, pw), (dh, dw), G, block)
    lw.kernel.stages.append(GemmStage(out.name, wbuf.name, col.name, Og, P, Kc, False, False, Kc, P, P, (N, G),
                                      (0, Og * Kc), col_strides, (O * P, Og * P), (bn, bg), m, p,
                                      out_index=out_index, conv=geometry))


def _window(idx: tuple, cg: int, stride: tuple[int, int], dilation: tuple[int, int]) -> tuple:
    """The (padded) NCHW input element of im2col column element (n, g, c, kh, kw, oh, ow)."""
    n, g, c, kh, kw, oh, ow = idx
    return (n, iadd(imul(g, const(cg)), c), iadd(imul(oh, const(stride[0])), imul(kh, const(dilation[0]))),
            iadd(imul(ow, const(stride[1])), imul(kw, const(dilation[1]))))
