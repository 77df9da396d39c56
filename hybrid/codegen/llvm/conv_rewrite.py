"""Turning a convolution's im2col + GEMM into a direct convolution (LLVM backend only; conv_direct.py).

Stages of `use_direct_convolutions` on one kernel, for each f32 convolution GemmStage that
conv_choice.py assigns to the direct kernel:
  1. drop the stages that only fed the GEMM (the padded copy of the input, the im2col columns);
  2. a PackInput stage packing the input into the padded NCHW[CI]c layout (zeros at the borders and
     past C), and a stage packing the weights into (OG, CB, KH, KW, CI, RO, V) (zeros past O and C);
  3. the DirectConv stage, writing the NCHW result. When the GEMM's epilogue (bias, folded BatchNorm,
     residual, activation) is elementwise arithmetic on the product, per-output-channel values and
     operands read at the result's own position (`_tile_epilogue`), the register tile applies it before
     its one store into the final buffer; the per-channel values are computed first into small vectors
     (stages of OB * V floats, zeros past O);
  4. otherwise (logged under "fusion" with the reason), the kernel writes the product into a temp with
     whole vectors of channels and a stage writes the result: the epilogue as one vectorized pass.
A 3x3 stride-1 convolution that conv_choice assigns to Winograd F(m x m, 3x3) (conv_winograd.py) goes the same
way with a WinogradConv stage (a DirectConv with another loop nest) and its weights packed transformed; a
depthwise one with a DepthwiseConv (conv_depthwise.py: a group per channel block, weights (CB, KH, KW, V)).
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Union

from ... import log
from ..kernel import (Buffer, E, GemmStage, Kernel, Stage, both, clamp, const, iadd, iconst_op, imul, in_range, ivar,
                      load, rewrite, select, simplify, stage_over, stage_reads, substitute, temp_buffer, walk)
from ..kernel.blocked import blocked_copy_source
from . import gemm
from .chunking import fresh_var
from .conv_choice import choose_kind, depthwise
from .conv_depthwise import DepthwiseConv, depthwise_tile
from .conv_direct import (TILE_EPILOGUE_OPS, ConvTile, DirectConv, PackInput, PoolTail, TileEpilogue, choose_tile,
                          direct_shape, groups_outer)
from ..kernel.winograd import weight_expr
from .conv_winograd import WinogradConv, chunking, group_parts


def _reads(stage, name: str) -> bool:
    if isinstance(stage, (GemmStage, Stage)):
        return stage_reads(stage, name)
    if isinstance(stage, DirectConv):
        return name in (stage.x, stage.w) + stage.epilogue.chans + stage.epilogue.residuals
    return name == stage.x                                                               # PackInput


def _eligible(k: Kernel, i: int, width: int) -> bool:
    g = k.stages[i]
    if not isinstance(g, GemmStage) or g.conv is None or k.buffers[g.out].dtype != "f32" or \
            g.conv.groups != 1 and not depthwise(g.conv):
        return False
    if g.conv.block and (g.conv.block != width or g.conv.in_shape[1] < width):
        return False        # a blocked input the tile cannot read in place (blocked for another target)
    fed = {n for n in (g.conv.padded, g.conv.cols) if n is not None}
    others = [s for j, s in enumerate(k.stages) if j != i and not (isinstance(s, Stage) and s.out in fed)]
    return all(k.buffers[n].role == "temp" and not any(_reads(s, n) for s in others) for n in fed)


class WeightPack(NamedTuple):
    """A stage of a kernel that packs the weights (kernel buffer `source`) into the direct layout."""
    stage: Stage
    source: str


class ConvWeightPack(NamedTuple):
    """Weights kept in the direct layout between calls: `kernel` (one stage; buffers: the weights, then the
    packed copy) fills kernel buffer `buffer` (role "prepacked") from kernel input `input_index`."""
    buffer: str
    input_index: int
    kernel: Kernel


class ParamWeightPack(NamedTuple):
    """A ConvWeightPack placed in a module (module.ModulePlan.packs): the graph input it packs and the name
    of the function rendered from its kernel."""
    graph_input: int
    kernel: Kernel
    function: str
    floats: int


def use_direct_convolutions(k: Kernel) -> list[WeightPack]:
    """Stages 1-4 on kernel `k` (see the module docstring); returns the weight-packing stages, which the
    caller may move out of the kernel when the weights are a parameter (packed once, not per call)."""
    width = gemm.host_config().width
    packs = []
    while True:     # each rewrite removes stages before the GEMM: look again from the start
        i = next((i for i in range(len(k.stages))
                  if _eligible(k, i, width) and choose_kind(k.stages[i].conv, width, _pooled(k, i)) != "im2col"), None)
        if i is None:
            _pool_in_output_loop(k)
            _store_blocked(k)
            return packs
        packs.append(_rewrite(k, i, width, choose_kind(k.stages[i].conv, width, _pooled(k, i))))


def _pooling_reader(k: Kernel, stage) -> Optional[Stage]:
    """The pooling stage that is the only reader of `stage`'s result (a temp), over non-overlapping windows
    without padding (what a direct convolution can pool in its output loop), or None."""
    if stage.out not in k.buffers or k.buffers[stage.out].role != "temp":
        return None
    readers = [s for s in k.stages if s is not stage and _reads(s, stage.out)]
    if len(readers) != 1 or not isinstance(readers[0], Stage) or readers[0].pool is None:
        return None
    g = readers[0].pool
    if g.stride != g.kernel or g.padding != (0, 0) or \
            {e.value for e in walk(readers[0].expr) if e.op == "load"} != {stage.out}:
        return None
    return readers[0]


def _pooled(k: Kernel, i: int) -> bool:
    """Whether the convolution GemmStage k.stages[i], run by the direct kernel, would pool in its output loop
    (its epilogue without residuals: `_pool_in_output_loop`)."""
    g = k.stages[i]
    return _pooling_reader(k, g) is not None and (g.epilogue is None or not any(
        e.op == "load" and k.buffers[e.value].shape == k.buffers[g.out].shape for e in walk(g.epilogue)))


def _pool_in_output_loop(k: Kernel) -> None:
    """A direct convolution (not Winograd or depthwise) whose result, a temp, only a pooling stage reads, over
    non-overlapping windows without padding (LeNet's conv -> ReLU -> pool; fuse.py puts the pooling in the
    convolution's kernel), pools in its output loop and stores only the pooled result: the whole result never
    reaches memory (conv_direct.PoolTail). Not with a residual in the epilogue (read at the result's
    positions) or a blocked store."""
    for conv in [s for s in k.stages if type(s) is DirectConv]:
        pool = _pooling_reader(k, conv)
        if pool is None or conv.epilogue.residuals or conv.out_pad is not None or \
                conv.out_channels != k.buffers[conv.out].shape[1]:
            continue
        result, g, pooled = k.buffers[conv.out], pool.pool, k.buffers[pool.out].shape
        conv.pool = PoolTail("max" if g.op == "max_pool2d" else "avg", g.kernel[0], g.kernel[1], pooled[2], pooled[3])
        conv.out = pool.out
        del k.buffers[result.name]
        k.stages.remove(pool)


def _store_blocked(k: Kernel) -> None:
    """A direct convolution whose result a to_blocked copy reads (ir/ops/blocked.py: the next convolution's
    input) stores the blocked image itself, from its register tile, and the copy goes. When nothing else
    reads the result and the epilogue has no residual (read in NCHW), only the image is stored: from the
    accumulators, without the transpose to NCHW; otherwise the NCHW rows too."""
    for conv in [s for s in k.stages if isinstance(s, DirectConv)]:
        copies = [s for s in k.stages if isinstance(s, Stage) and blocked_copy_source(k, s) == conv.out]
        if len(copies) != 1 or conv.out_channels != k.buffers[conv.out].shape[1]:
            continue
        copy = copies[0]
        shape = k.buffers[copy.out].shape
        if shape[4] != conv.tile.width:
            continue
        conv.out_pad = ((shape[2] - conv.tile.oh) // 2, (shape[3] - conv.tile.ow) // 2)
        readers = [s for s in k.stages if s is not conv and s is not copy and _reads(s, conv.out)]
        if readers or k.buffers[conv.out].role != "temp" or conv.epilogue.residuals:
            conv.copy = copy.out
        else:
            del k.buffers[conv.out]
            conv.out = copy.out
        k.stages.remove(copy)


def keep_packed(k: Kernel, pack: WeightPack) -> ConvWeightPack:
    """Take `pack`'s stage out of `k`: its output becomes a "prepacked" buffer, which the runtime keeps and
    the returned kernel refills when the weights (a parameter) change."""
    k.stages.remove(pack.stage)
    src, packed = k.buffers[pack.source], k.buffers[pack.stage.out]
    k.buffers[packed.name] = Buffer(packed.name, packed.shape, "f32", "prepacked")
    repack = Kernel(f"repack_{packed.name}", {src.name: Buffer(src.name, src.shape, src.dtype, "input", 0),
                                              packed.name: Buffer(packed.name, packed.shape, "f32", "output", 0)},
                    [pack.stage], dict(k.extents))
    return ConvWeightPack(packed.name, src.index, repack)


def conv_kinds(k: Kernel) -> str:
    """The convolution kernels of `k`, for profiler labels: "direct", "winograd", "depthwise", "im2col", several
    joined by "+", or "" (none)."""
    kinds = {("winograd" if isinstance(s, WinogradConv) else "depthwise" if isinstance(s, DepthwiseConv) else "direct")
             if isinstance(s, DirectConv) else "im2col" for s in k.stages
             if isinstance(s, DirectConv) or isinstance(getattr(s, "gemm", s), GemmStage)
             and getattr(s, "gemm", s).conv is not None}
    return "+".join(sorted(kinds))


def _rewrite(k: Kernel, i: int, width: int, kind: str) -> WeightPack:
    """Stages 1-4 for the GemmStage k.stages[i]; kind: "direct", "winograd<m>" or "depthwise"
    (conv_choice.choose_kind)."""
    g: GemmStage = k.stages[i]
    geo = g.conv
    N, C, H, W = geo.in_shape
    O, _, KH, KW = geo.w_shape
    (ph, pw), (sh, sw), (dh, dw) = geo.padding, geo.stride, geo.dilation
    OH, OW = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    CB, CI, OB = direct_shape(O, C, width)
    m = int(kind[len("winograd"):]) if kind.startswith("winograd") else 0
    tiles = -(-OH // m) * -(-OW // m) if m else OW          # Winograd: the GEMM's "pixels" are output tiles
    RO, RW = choose_tile(OB, tiles, width)
    if kind == "depthwise":      # a group per channel block, reading its own input block
        CI, CB = width, OB
        RO, RW = 1, depthwise_tile(OW, width)
    hp, wp = H + 2 * ph, W + 2 * pw      # conv2d_blocked: H, W are the blocked input's, padded already
    outer = groups_outer(RO * width * CB * CI * KH * KW, CB * CI * hp * wp) and not m
    tile = ConvTile(width, N, CB, CI, hp, wp, OB // RO, RO, RW, OH, OW, KH, KW, (sh, sw), (dh, dw), outer)
    fed = {n for n in (geo.padded, geo.cols) if n is not None}
    before = [s for s in k.stages[:i] if not (isinstance(s, Stage) and s.out in fed)]
    for name in fed:                                                        # 1
        del k.buffers[name]
    x, w = k.buffers[geo.x], k.buffers[geo.w]
    xp = x if geo.block else temp_buffer(k, f"{x.name}@nchw{CI}c", (N, CB, tile.hp, tile.wp, CI))
    out = k.buffers[g.out]

    def packed(og, r, lane, cb, ci, value):
        """value(tap) at output channel (og * RO + r) * V + lane and input channel cb * CI + ci (zeros past O, C);
        tap(kh, kw): the weight there."""
        o = iadd(imul(iadd(imul(og, const(RO)), r), const(width)), lane)
        c = iadd(imul(cb, const(CI)), ci)
        valid = both(in_range(o, 0, O), in_range(c, 0, C))
        return select(valid, value(lambda kh, kw: load(w, (clamp(o, O - 1), clamp(c, C - 1), kh, kw))),
                      const(0.0, "f32"))

    if kind == "depthwise":
        wp = temp_buffer(k, f"{w.name}@depthwise{width}", (CB, KH, KW, width))

        def depthwise_weights(idx):
            cb, kh, kw, lane = idx
            c = iadd(imul(cb, const(width)), lane)
            return select(in_range(c, 0, C), load(w, (clamp(c, C - 1), const(0), kh, kw)), const(0.0, "f32"))
        weights = stage_over(k, wp, depthwise_weights)
        stage = DepthwiseConv
    elif m:
        a = m + 2
        wp = temp_buffer(k, f"{w.name}@winograd{m}x{RO}x{width}", (tile.og, a, a, CB, CI, RO, width))
        weights = stage_over(k, wp, lambda idx: packed(idx[0], idx[5], idx[6], idx[3], idx[4], lambda tap: weight_expr(
            m, idx[1], idx[2], lambda i, j: tap(const(i), const(j)))))           # (og, xi, nu, cb, ci, r, lane)
        chunk, images = chunking(m, tiles, RW, CB, CI, RO, tile.og, width, N)
        parts = group_parts(-(-N // images) * -(-tiles // chunk), tile.og)

        def stage(*args, **kw) -> DirectConv:
            return WinogradConv(*args, **kw, m=m, chunk=chunk, parts=parts, images=images)
    else:
        wp = temp_buffer(k, f"{w.name}@direct{RO}x{width}", (tile.og, CB, KH, KW, CI, RO, width))
        weights = stage_over(k, wp, lambda idx: packed(idx[0], idx[5], idx[6], idx[1], idx[4],
                                                   lambda tap: tap(idx[2], idx[3])))  # (og, cb, kh, kw, ci, r, lane)
        stage = DirectConv
    pack = PackInput(xp.name, x.name, (N, C, H, W), CB, CI, (ph, pw))                       # 2
    fused = _tile_epilogue(k, g, (N, O, OH, OW), OB * width)
    if isinstance(fused, str):                                                                  # 4
        log.log("fusion", f"conv2d {x.name} -> {out.name}: the direct convolution's epilogue runs as a separate "
                          f"pass over the result ({fused})")
        y = temp_buffer(k, f"{g.out}@direct", (N, OB * width, OH, OW))
        conv = stage(y.name, xp.name, wp.name, tile)
        after = [stage_over(k, out, lambda idx: _epilogue(k, g, y, idx, (O, OH, OW)))]
    else:                                                                                       # 3
        epilogue, channel_stages = fused
        conv = stage(out.name, xp.name, wp.name, tile, O, epilogue)
        before, after = before + channel_stages, []
    k.stages[:i + 1] = before + ([] if geo.block else [pack]) + [weights, conv] + after
    return WeightPack(weights, w.name)


class _Unfused(Exception):
    """An epilogue the register tile cannot apply (the message says why)."""


def _tile_epilogue(k: Kernel, g: GemmStage, nchw: tuple[int, int, int, int],
                   padded: int) -> Union[str, tuple[TileEpilogue, list[Stage]]]:
    """The GEMM's epilogue as a TileEpilogue and the stages computing its per-channel vectors (`padded`
    floats each), or the reason the tile cannot apply it: the result is reshaped, or the epilogue uses an op
    other than TILE_EPILOGUE_OPS on the product, or reads an operand other than per-channel values and
    arrays of the result's shape at the result's own element."""
    N, O, OH, OW = nchw
    out = k.buffers[g.out]
    if out.shape != nchw:
        return f"the result {out.shape} is a reshape of {nchw}"
    if g.epilogue is None:
        return TileEpilogue(), []
    pos = tuple(fresh_var(k, d) for d in nchw)
    own = [const(0) if d == 1 else ivar(v) for v, d in zip(pos, nchw)]     # as simplified reads index them
    n, o, h, w = own
    mapping = {g.batch_vars[0]: n, g.batch_vars[1]: const(0), g.m_var: o, g.n_var: iadd(imul(h, const(OW)), w)}
    body = simplify(substitute(g.epilogue, mapping), k.extents)
    chans: dict = {}            # E.key() -> (index, E)
    residuals: dict = {}        # buffer name -> index
    at_own_element = [e.key() for e in own]

    def convert(e: E) -> tuple:
        if e.op == "acc":
            return ("acc",)
        if e.op == "const" and e.dtype == "f32":
            return ("const", e.value)
        if e.dtype == "f32" and not any(a.op == "acc" for a in walk(e)):
            used = {a.value for a in walk(e) if a.op == "ivar"}
            if used <= {pos[1]}:
                return ("chan", chans.setdefault(e.key(), (len(chans), e))[0])
            if e.op == "load" and k.buffers[e.value].shape == nchw and [a.key() for a in e.args] == at_own_element:
                return ("res", residuals.setdefault(e.value, len(residuals)))
            raise _Unfused(f"the epilogue reads {e!r}, neither a per-channel value nor an operand at the "
                           "result's own element")
        if e.op not in TILE_EPILOGUE_OPS or any(a.dtype not in ("f32", "bool") for a in e.args):
            raise _Unfused(f"the epilogue applies {e.op}:{e.dtype} to the product")
        return (e.op,) + tuple(convert(a) for a in e.args)
    try:
        expr = convert(body)
    except _Unfused as why:
        return str(why)
    stages = []
    for index, value in sorted(chans.values(), key=lambda c: c[0]):
        buf = temp_buffer(k, f"{g.out}@chan{index}", (padded,))
        stages.append(stage_over(k, buf, lambda idx, value=value: select(
            in_range(idx[0], 0, O), substitute(value, {pos[1]: clamp(idx[0], O - 1)}), const(0.0, "f32"))))
    return TileEpilogue(expr, tuple(s.out for s in stages), tuple(sorted(residuals, key=residuals.get))), stages


def _epilogue(k: Kernel, g: GemmStage, y: Buffer, idx: tuple, chw: tuple[int, int, int]) -> E:
    """The value of the GEMM's output element at `idx` of its output buffer: the epilogue (or the plain
    product) with the product read from the direct convolution's NCHW result `y` (channels padded to
    whole vectors)."""
    out = k.buffers[g.out]
    O, OH, OW = chw
    if len(out.shape) == 4 and out.shape[1:] == (O, OH, OW):
        n, o, h, w = idx
    else:       # the epilogue writes a reshaped result: the same elements in the same order
        flat = None
        for v, stride in zip(idx, out.strides()):
            term = imul(v, const(stride))
            flat = term if flat is None else iadd(flat, term)
        n = iconst_op("idiv", flat, O * OH * OW)
        o = iconst_op("mod", iconst_op("idiv", flat, OH * OW), O)
        h = iconst_op("mod", iconst_op("idiv", flat, OW), OH)
        w = iconst_op("mod", flat, OW)
    product = load(y, (n, o, h, w))
    if g.epilogue is None:
        return product
    mapping = {g.batch_vars[0]: n, g.batch_vars[1]: const(0), g.m_var: o, g.n_var: iadd(imul(h, const(OW)), w)}
    return substitute(rewrite(g.epilogue, lambda e: product if e.op == "acc" else None), mapping)

