"""Depthwise convolution (groups = input channels = output channels; LLVM backend, float32).

im2col + GEMM runs a depthwise convolution as C products of a 1 x (KH*KW) row by a (KH*KW) x pixels
matrix: no reuse for the GEMM to exploit, and a column buffer KH*KW times the input. On the channel-blocked
layout each channel only meets itself, so a vector of V channels is a unit of work: an output pixel's V
channels are sum over the taps of (the input pixel's V channels) * (the tap's V weights), one vector FMA
per tap with no broadcast. Layouts (V = floats per vector, CB = ceil(C / V) blocks):

    input    the direct kernel's padded NCHW[V]c (N, CB, HP, WP, V), channels past C zero
    weights  (CB, KH, KW, V): zeros past C
    output   as the direct kernel's (NCHW, the blocked image, or both), with the same fused epilogue

It is a DirectConv whose output-channel groups are the channel blocks (RO = 1, each reading its own input
block) and whose register tile is `depthwise_tile_function`: RW pixel accumulators of one block, carried
over the KH x KW taps. Work items, tails, the epilogue and the stores are render_direct's.
"""
from __future__ import annotations

from dataclasses import dataclass

from .conv_direct import DirectConv, TileRefs, store_tile, tile_header, variant, vector_registers


def depthwise_tile(ow: int, width: int) -> int:
    """Pixels per register tile: as many accumulators as the registers hold beside the weight vector, the
    input vector and two spare, fewer when that leaves a whole number of tiles per row at most 25% narrower."""
    most = min(ow, vector_registers(width) - 4)
    whole = [rw for rw in range(most, 0, -1) if ow % rw == 0 and 4 * rw >= 3 * most]
    return whole[0] if whole else most


@dataclass
class DepthwiseConv(DirectConv):
    """out = epilogue(depthwise conv(x, w)) (see the module docstring): tile.cb = tile.og = CB, tile.ci = V,
    tile.ro = 1, tile.rw pixels per register tile."""

    @property
    def flops(self) -> int:
        t = self.tile
        return 2 * t.n * t.cb * t.width * t.oh * t.ow * t.kh * t.kw

    @property
    def group_weights(self) -> int:
        t = self.tile
        return t.kh * t.kw * t.width

    @property
    def group_input_rows(self) -> int:
        return self.tile.hp

    def tile_function(self, mod, rw: int, masked: bool, stores: str) -> str:
        return depthwise_tile_function(mod, self, rw, masked, stores)

    def __str__(self) -> str:
        return super().__str__().replace("direct_conv(", "depthwise_conv(", 1)


def depthwise_tile_function(mod, s: DepthwiseConv, rw: int, masked: bool, stores: str) -> str:
    """The register tile of rw pixels of one channel block, with conv_direct.tile_function's arguments (%cb and
    %xcb unused: one input block): for each tap (kh, kw), the tap's weight vector times each pixel's input
    vector, added into the pixel's accumulator; then the epilogue and the stores of conv_direct.store_tile."""
    V, vt = s.tile.width, f"<{s.tile.width} x float>"
    name, defined = variant(mod, f"hb_dw_tile_w{rw}v{V}", s.epilogue, masked, stores)
    if defined:
        return name
    fma = mod.intrinsic(f"llvm.fma.v{V}f32", vt, vt, vt, vt)
    fn = tile_header(name, s.epilogue, stores)
    acc = ["zeroinitializer"] * rw
    rows = fn.begin_loop("0", "%kh", [(vt, a) for a in acc])
    cols = fn.begin_loop("0", "%kw", [(vt, a) for a in rows.carried])
    acc = list(cols.carried)
    xo = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {rows.index}, %xkh')}, {fn.op(f'mul nsw i64 {cols.index}, %xkw')}")
    tap = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {rows.index}, %kw')}, {cols.index}")
    wp = fn.op(f"getelementptr inbounds float, ptr %w, i64 {fn.op(f'mul nsw i64 {tap}, {V}')}")
    weight = fn.op(f"load {vt}, ptr {wp}, align 4")
    xp = fn.op(f"getelementptr inbounds float, ptr %x, i64 {xo}")
    for j in range(rw):
        p = fn.op(f"getelementptr inbounds float, ptr {xp}, i64 {fn.op(f'mul nsw i64 %xpixel, {j}')}")
        acc[j] = fn.op(f"call {vt} {fma}({vt} {fn.op(f'load {vt}, ptr {p}, align 4')}, {vt} {weight}, {vt} {acc[j]})")
    acc = fn.end_loop(rows, fn.end_loop(cols, acc))
    store_tile(fn, mod, V, s.epilogue, masked, stores, {0: acc}, TileRefs.parameters(s.epilogue))
    fn.do("ret void")
    mod.functions.append(fn.text())
    return name
