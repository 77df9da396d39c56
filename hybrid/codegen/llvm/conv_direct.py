"""Direct convolution on a channel-blocked layout (LLVM backend, float32).

The im2col lowering copies every input pixel KH*KW times into a column matrix and then packs it
again for the GEMM: for ResNet-18's 3x3 layers that is two passes over an array 9x the input. A direct
convolution reads the input in place. Layouts (V = floats per vector register of the target):

    input   NCHW[CI]c, padded:  (N, CB, H + 2ph, W + 2pw, CI)   CI = V, or C when C < V (no waste)
    weights (OG, CB, KH, KW, CI, RO, V): for each group of RO output-channel vectors, the RO weight
            vectors one input channel multiplies are adjacent, so a step reads one short run
    output  NCHW[V]c:            (N, OB, OH, OW, V)              OB = OG * RO blocks of V channels

The micro-kernel keeps an RO x RW tile of vector accumulators (RO blocks of V output channels times
RW output pixels of one row) and, for each input channel of each (channel block, kh, kw), broadcasts
the input scalar of each of the RW pixels and multiplies it into the RO weight vectors: RO * RW FMAs
for RO vector loads and RW scalar broadcasts. Work items (image, output-channel group, output row)
are shared out among the threads; a thread's consecutive items share their weights (in L2).

Stages of `render_direct` (one DirectConv of a kernel): the item loop, then per row the full tiles
(a runtime loop) and the tail tile (OW % RW pixels, straight code), each a reduction loop over
CB * KH * KW carrying the accumulators, the CI input channels unrolled inside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .emit import Fn


@dataclass(frozen=True)
class ConvTile:
    """The shape constants of one direct convolution (see the module docstring for the layouts)."""
    width: int                  # V: floats per vector
    n: int
    cb: int                     # input channel blocks
    ci: int                     # channels per input block
    hp: int                     # padded input height and width
    wp: int
    og: int                     # groups of RO output blocks
    ro: int                     # output blocks (vectors of V channels) per register tile
    rw: int                     # output pixels per register tile
    oh: int
    ow: int
    kh: int
    kw: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups_outer: bool          # items ordered (group, image, row), else (image, group, row): see item_order

    @property
    def ob(self) -> int:
        return self.og * self.ro

    @property
    def flops(self) -> int:
        return 2 * self.n * self.ob * self.width * self.oh * self.ow * self.cb * self.ci * self.kh * self.kw

    @property
    def items(self) -> int:
        """Work items shared among the threads: (image, output-channel group, output row)."""
        return self.n * self.og * self.oh


@dataclass
class DirectConv:
    """A kernel stage (like GemmStage): out = conv(x, w), all three buffers in the layouts above."""
    out: str
    x: str
    w: str
    tile: ConvTile

    @property
    def flops(self) -> int:
        return self.tile.flops

    def __str__(self) -> str:
        t = self.tile
        return (f"{self.out} = direct_conv(NCHW{t.width}c, {self.x}, {self.w}, tile {t.ro}x{t.rw}, "
                f"kernel {t.kh}x{t.kw}, stride {t.stride})")


def vector_registers(width: int) -> int:
    """Vector registers of the target: 32 with AVX-512, 16 with AVX/AVX2 and SSE."""
    return 32 if width >= 16 else 16


def _row_cycles(ro: int, rw: int, ow: int) -> float:
    """Estimated cycles per input channel step for one row of RO output blocks: a tile of r pixels issues ro * r
    FMAs and ro + r loads (about one of each per cycle), needs about 8 independent accumulators to hide the
    FMA latency, and its loads compete with the FMAs for issue slots (counted at half weight)."""
    def tile(r: int) -> float:
        return max(ro * r, ro + r, 8.0) + (ro + r) / 2
    full, tail = divmod(ow, rw)
    return full * tile(rw) + (tile(tail) if tail else 0.0)


def choose_tile(ob: int, ow: int, width: int) -> tuple[int, int]:
    """(RO, RW): the register tile with the fewest estimated cycles per output channel (RO divides the
    output blocks; RO * RW accumulators, RO weight vectors and a broadcast fit the registers)."""
    regs = vector_registers(width)
    best = None
    for ro in (4, 3, 2, 1):
        if ob % ro:
            continue
        for rw in range(1, min(ow, 28) + 1):
            if ro * rw + ro + 1 > regs:
                break
            cost = _row_cycles(ro, rw, ow) / ro
            if best is None or cost < best[0] - 1e-9:
                best = (cost, ro, rw)
    return best[1], best[2]


def groups_outer(weight_floats_per_group: int, input_floats_per_image: int) -> bool:
    """Whether a thread's consecutive items should run through the images with one output-channel group's
    weights (kept in L2) rather than through the groups with one image: when a group's weights are the
    bigger array to keep re-reading (ResNet-18's last stage: 590 KB per group against 205 KB per image)."""
    return weight_floats_per_group > input_floats_per_image


def render_direct(fn: Fn, declare, s: DirectConv, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Emit the loops of `s` for items [lo, hi) into `fn`; declare(name, ret, *args) declares an intrinsic."""
    t = s.tile
    V, vt = t.width, f"<{t.width} x float>"
    fma = declare(f"llvm.fma.v{V}f32", vt, vt, vt, vt)
    fn.do(f"; direct convolution NCHW{V}c, register tile {t.ro}x{t.rw} ({t.kh}x{t.kw}, stride {t.stride})")
    item = fn.begin_loop(lo, hi)
    oh = fn.op(f"urem i64 {item.index}, {t.oh}")
    rest = fn.op(f"udiv i64 {item.index}, {t.oh}")
    inner, outer = (t.n, t.og) if t.groups_outer else (t.og, t.n)
    second = fn.op(f"urem i64 {rest}, {inner}")
    first = fn.op(f"udiv i64 {rest}, {inner}")
    og, n = (first, second) if t.groups_outer else (second, first)
    sh, sw = t.stride
    # offsets (floats) of the row's first input pixel, the group's weights, and output block 0's row
    xrow = fn.op(f"mul nsw i64 {n}, {t.cb * t.hp}")
    xrow = fn.op(f"add nsw i64 {xrow}, {fn.op(f'mul nsw i64 {oh}, {sh}')}")
    xrow = fn.op(f"mul nsw i64 {xrow}, {t.wp * t.ci}")
    wbase = fn.op(f"mul nsw i64 {og}, {t.cb * t.kh * t.kw * t.ci * t.ro * V}")
    yrow = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {n}, {t.ob}')}, {fn.op(f'mul nsw i64 {og}, {t.ro}')}")
    yrow = fn.op(f"mul nsw i64 {yrow}, {t.oh}")
    yrow = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {yrow}, {oh}')}, {t.ow * V}")
    full, tail = divmod(t.ow, t.rw)
    if full:
        tiles = fn.begin_loop("0", str(full))
        _tile(fn, fma, s, ptrs, t.rw, fn.op(f"mul nsw i64 {tiles.index}, {t.rw}"), xrow, wbase, yrow)
        fn.end_loop(tiles)
    if tail:
        _tile(fn, fma, s, ptrs, tail, str(full * t.rw), xrow, wbase, yrow)
    fn.end_loop(item)


def _tile(fn: Fn, fma: str, s: DirectConv, ptrs: dict[str, str], rw: int, ow0: str, xrow: str, wbase: str,
          yrow: str) -> None:
    """One register tile: RO output blocks x `rw` pixels from pixel `ow0` of the row."""
    t = s.tile
    V, vt = t.width, f"<{t.width} x float>"
    sh, sw = t.stride
    dh, dw = t.dilation
    xt = fn.op(f"add nsw i64 {xrow}, {fn.op(f'mul nsw i64 {ow0}, {sw * t.ci}')}")
    taps = t.kh * t.kw
    red = fn.begin_loop("0", str(t.cb * taps), [(vt, "zeroinitializer")] * (t.ro * rw))
    step = red.index
    cb = fn.op(f"udiv i64 {step}, {taps}")
    tap = fn.op(f"urem i64 {step}, {taps}")
    kh = fn.op(f"udiv i64 {tap}, {t.kw}")
    kw = fn.op(f"urem i64 {tap}, {t.kw}")
    xo = fn.op(f"mul nsw i64 {cb}, {t.hp}")
    xo = fn.op(f"add nsw i64 {xo}, {fn.op(f'mul nsw i64 {kh}, {dh}')}")
    xo = fn.op(f"mul nsw i64 {xo}, {t.wp}")
    xo = fn.op(f"add nsw i64 {xo}, {fn.op(f'mul nsw i64 {kw}, {dw}')}")
    xo = fn.op(f"add nsw i64 {xt}, {fn.op(f'mul nsw i64 {xo}, {t.ci}')}")
    xp = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.x]}, i64 {xo}")
    wo = fn.op(f"add nsw i64 {wbase}, {fn.op(f'mul nsw i64 {step}, {t.ci * t.ro * V}')}")
    wp = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.w]}, i64 {wo}")
    acc = list(red.carried)
    for ci in range(t.ci):
        wv = []
        for r in range(t.ro):
            p = fn.op(f"getelementptr inbounds float, ptr {wp}, i64 {(ci * t.ro + r) * V}")
            wv.append(fn.op(f"load {vt}, ptr {p}, align 4"))
        for j in range(rw):
            p = fn.op(f"getelementptr inbounds float, ptr {xp}, i64 {j * sw * t.ci + ci}")
            x = fn.op(f"load float, ptr {p}, align 4")
            x = fn.op(f"insertelement {vt} poison, float {x}, i64 0")
            x = fn.op(f"shufflevector {vt} {x}, {vt} poison, <{V} x i32> zeroinitializer")
            for r in range(t.ro):
                k = r * rw + j
                acc[k] = fn.op(f"call {vt} {fma}({vt} {x}, {vt} {wv[r]}, {vt} {acc[k]})")
    acc = fn.end_loop(red, acc)
    for r in range(t.ro):
        yo = fn.op(f"add nsw i64 {yrow}, {r * t.oh * t.ow * V}")
        yo = fn.op(f"add nsw i64 {yo}, {fn.op(f'mul nsw i64 {ow0}, {V}')}")
        yp = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.out]}, i64 {yo}")
        for j in range(rw):
            p = fn.op(f"getelementptr inbounds float, ptr {yp}, i64 {j * V}")
            fn.do(f"store {vt} {acc[r * rw + j]}, ptr {p}, align 4")


def direct_shape(o: int, c: int, width: int) -> tuple[int, int, int]:
    """(input channel blocks, channels per block, output blocks) for C input and O output channels."""
    ci = width if c >= width else c
    return math.ceil(c / ci), ci, math.ceil(o / width)


def standalone_ir(tile: ConvTile, triple: str) -> str:
    """A module defining `void hybrid_conv_direct(ptr x, ptr w, ptr y, i64 lo, i64 hi)`: items [lo, hi) of a
    direct convolution of `tile` (for inspecting the code generated for any vector width)."""
    declares: set[str] = set()

    def declare(name: str, ret: str, *args: str) -> str:
        declares.add(f"declare {ret} @{name}({', '.join(args)})")
        return f"@{name}"
    fn = Fn("define void @hybrid_conv_direct(ptr noalias %x, ptr noalias %w, ptr noalias %y, i64 %lo, i64 %hi)")
    render_direct(fn, declare, DirectConv("y", "x", "w", tile), {"x": "%x", "w": "%w", "y": "%y"}, "%lo", "%hi")
    fn.do("ret void")
    return "\n".join([f'target triple = "{triple}"'] + sorted(declares) + [fn.text()])
