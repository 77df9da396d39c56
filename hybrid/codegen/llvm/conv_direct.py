"""Direct convolution on a channel-blocked layout (LLVM backend, float32).

The im2col lowering copies every input pixel KH*KW times into a column matrix and then packs it
again for the GEMM: for ResNet-18's 3x3 layers that is two passes over an array 9x the input. A direct
convolution reads the input in place. Layouts (V = floats per vector register of the target):

    input   NCHW[CI]c, padded:  (N, CB, H + 2ph, W + 2pw, CI)   CI = V, or C when C < V (no waste)
    weights (OG, CB, KH, KW, CI, RO, V): for each group of RO output-channel vectors, the RO weight
            vectors one input channel multiplies are adjacent, so a step reads one short run
    output  NCHW:                (N, OB * V, OH, OW)            OB = OG * RO blocks of V channels

The micro-kernel keeps an RO x RW tile of vector accumulators (RO blocks of V output channels times
RW output pixels of one row) and, for each input channel of each (channel block, kh, kw), broadcasts
the input scalar of each of the RW pixels and multiplies it into the RO weight vectors: RO * RW FMAs
for RO vector loads and RW scalar broadcasts. When the tile is done, each output channel's RW pixels are
gathered from the accumulators' lanes (a transpose in registers, a few percent of the FMAs) and stored as
one short row of the NCHW result, so the blocked layout never reaches memory on the output side (a pass
over the result in NCHW[V]c cost 10% of ResNet-18's first-stage convolutions). Work items (image,
output-channel group, output row) are shared out among the threads; a thread's consecutive items share
their weights (in L2).

Stages of `render_direct` (one DirectConv of a kernel): the item loop, then per row the full tiles and
the tail tile (OW % RW pixels), each a call of a tile function shared by every convolution of the module
with the same register tile (`tile_function`: loops over the channel blocks, kh and kw carrying the
accumulators, the CI input channels unrolled inside).
"""
from __future__ import annotations

import hashlib
import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

from .emit import Fn, lit


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


@dataclass(frozen=True)
class TileEpilogue:
    """The elementwise tail applied to the register tile before its store (see `tile_function`).

    expr: a tree of tuples (op, *args) over the leaves ("acc",) (the convolution's value), ("chan", i)
    (per-output-channel value i), ("res", i) (residual i at the element's own NCHW position) and
    ("const", value); ops: add sub mul div max min neg, lt le gt ge eq ne, select.
    chans: buffers of OB * V floats (one value per output channel, zeros past O);
    residuals: buffers of the output's shape (N, channels, OH, OW).
    """
    expr: tuple = ("acc",)
    chans: tuple[str, ...] = ()
    residuals: tuple[str, ...] = ()

    def signature(self) -> str:
        """A short name for the tile function's variant (functions differ only by this tree's shape)."""
        return hashlib.sha1(repr(self.expr).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class PoolTail:
    """A max or average pooling over non-overlapping KH x KW windows (stride = window, no padding) of the
    convolution's result, applied in its output loop (`render_direct`): the result is never stored whole."""
    op: str                     # "max" | "avg"
    kh: int
    kw: int
    ph: int                     # pooled rows and columns (floor: trailing rows/columns of the result unused)
    pw: int


@dataclass
class DirectConv:
    """A kernel stage (like GemmStage): out = epilogue(conv(x, w)), x and w in the layouts above, out in
    NCHW with `channels` channels (O when the result is written in place: the tile stores only the channels
    below it; OB * V for a padded temp)."""
    out: str
    x: str
    w: str
    tile: ConvTile
    channels: int = 0
    epilogue: TileEpilogue = TileEpilogue()
    out_pad: Optional[tuple[int, int]] = None   # set: a blocked image (N, OB, OH+2ph, OW+2pw, V) is stored...
    copy: Optional[str] = None                  # ...into this buffer, out (NCHW) as well; None: out is the image
    pool: Optional[PoolTail] = None             # set: out is the pooled result (N, channels, PH, PW) in NCHW

    @property
    def blocked_out(self) -> bool:
        """Whether `out` is the blocked image (and no NCHW result is stored)."""
        return self.out_pad is not None and self.copy is None

    @property
    def out_channels(self) -> int:
        return self.channels or self.tile.ob * self.tile.width

    @property
    def items(self) -> int:
        """Work items shared among the threads (with a pooling tail: one per pooled row, not output row)."""
        return self.tile.items if self.pool is None else self.tile.items // self.tile.oh * self.pool.ph

    @property
    def group_weights(self) -> int:
        """Floats of packed weights per output-channel group."""
        t = self.tile
        return t.cb * t.kh * t.kw * t.ci * t.ro * t.width

    @property
    def group_input_rows(self) -> int:
        """Padded input rows between the first rows that consecutive groups read (0: every group reads all
        the input channel blocks)."""
        return 0

    def tile_function(self, mod, rw: int, masked: bool, stores: str) -> str:
        """The tile function `render_direct` calls (its arguments: `tile_function`'s)."""
        return tile_function(mod, self.tile, rw, self.epilogue, masked, stores)

    @property
    def flops(self) -> int:
        return self.tile.flops

    def __str__(self) -> str:
        t = self.tile
        fused = "" if self.epilogue.expr == ("acc",) else f", epilogue {_expr_text(self.epilogue.expr)}"
        stored = "" if self.out_pad is None else \
            f", stored NCHW{t.width}c padded {self.out_pad}" + (f" into {self.copy} too" if self.copy else "")
        if self.pool is not None:
            stored += f", {self.pool.op}-pooled {self.pool.kh}x{self.pool.kw} in the output loop"
        return (f"{self.out} = direct_conv(NCHW{t.width}c, {self.x}, {self.w}, tile {t.ro}x{t.rw}, "
                f"kernel {t.kh}x{t.kw}, stride {t.stride}{fused}{stored})")


def _expr_text(e: tuple) -> str:
    if e[0] in ("acc", "chan", "res", "const"):
        return "".join(map(str, e))
    return f"{e[0]}({', '.join(_expr_text(a) for a in e[1:])})"


@dataclass
class PackInput:
    """A kernel stage: `out` (N, CB, H + 2ph, W + 2pw, CI) = the NCHW input `x` (N, C, H, W) packed into
    channel blocks, zeros at the borders and past C. Rendered as plain row loops (`render_pack`): reads
    run along W, and no per-element bounds test or index division (the generic stage for the same copy
    took about 10% of a 64-channel 3x3 layer)."""
    out: str
    x: str
    in_shape: tuple[int, int, int, int]
    cb: int
    ci: int
    padding: tuple[int, int]

    @property
    def rows(self) -> int:
        """Packed rows (image, channel block, padded row) shared among the threads."""
        n, _, h, _ = self.in_shape
        return n * self.cb * (h + 2 * self.padding[0])

    @property
    def floats(self) -> int:
        n, _, h, w = self.in_shape
        return self.rows * (w + 2 * self.padding[1]) * self.ci

    def __str__(self) -> str:
        return f"{self.out} = pack_nchw{self.ci}c({self.x}, padding {self.padding})"


def render_pack(fn: Fn, s: PackInput, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Emit the rows [lo, hi) of `s` into `fn`: each padded row is zeroed, then (inside the image) each
    channel's row is copied to every CI-th float."""
    n_, c_, h_, w_ = s.in_shape
    ph, pw = s.padding
    hp, wp, ci = h_ + 2 * ph, w_ + 2 * pw, s.ci
    row = fn.begin_loop(lo, hi)
    dst = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.out]}, i64 {fn.op(f'mul nsw i64 {row.index}, {wp * ci}')}")
    fn.do(f"call void @llvm.memset.p0.i64(ptr align 4 {dst}, i8 0, i64 {wp * ci * 4}, i1 false)")
    h = fn.op(f"urem i64 {row.index}, {hp}")
    rest = fn.op(f"udiv i64 {row.index}, {hp}")
    cb = fn.op(f"urem i64 {rest}, {s.cb}")
    n = fn.op(f"udiv i64 {rest}, {s.cb}")
    ih = fn.op(f"sub nsw i64 {h}, {ph}")
    inside = fn.op(f"icmp ult i64 {ih}, {h_}")          # unsigned: a negative row is out too
    with fn.when(inside, "image_row"):
        first = fn.op(f"mul nsw i64 {cb}, {ci}")
        count = fn.op(f"select i1 {fn.op(f'icmp slt i64 {first}, {c_ - ci}')}, i64 {ci}, i64 "
                      f"{fn.op(f'sub nsw i64 {c_}, {first}')}")      # channels of this block inside C
        channels = fn.begin_loop("0", count)
        c = fn.op(f"add nsw i64 {first}, {channels.index}")
        src = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {n}, {c_}')}, {c}")
        src = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {src}, {h_}')}, {ih}")
        src = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.x]}, i64 {fn.op(f'mul nsw i64 {src}, {w_}')}")
        out = fn.op(f"getelementptr inbounds float, ptr {dst}, i64 {fn.op(f'add nsw i64 {channels.index}, {pw * ci}')}")
        cols = fn.begin_loop("0", str(w_))
        v = fn.op(f"load float, ptr {fn.op(f'getelementptr inbounds float, ptr {src}, i64 {cols.index}')}, align 4")
        at = fn.op(f"getelementptr inbounds float, ptr {out}, i64 {fn.op(f'mul nsw i64 {cols.index}, {ci}')}")
        fn.do(f"store float {v}, ptr {at}, align 4")
        fn.end_loop(cols)
        fn.end_loop(channels)
    fn.end_loop(row)


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
    output blocks; RO * RW accumulators, RO weight vectors and a broadcast fit the registers). A tile whose
    width divides the row is preferred when within 10% of the best: it needs no second (tail) tile function,
    and each tile function costs compile time (ResNet-18: 4x4 and 4x6 tiles measured the same speed)."""
    regs = vector_registers(width)
    tiles = []
    for ro in (4, 3, 2, 1):
        if ob % ro:
            continue
        for rw in range(1, min(ow, 28) + 1):
            if ro * rw + ro + 1 > regs:
                break
            tiles.append((_row_cycles(ro, rw, ow) / ro, ro, rw))
    best = min(tiles, key=lambda c: (c[0], -c[1]))
    whole = [c for c in tiles if ow % c[2] == 0 and c[0] <= 1.1 * best[0]]
    chosen = min(whole, key=lambda c: (c[0], -c[1])) if whole else best
    return chosen[1], chosen[2]


def groups_outer(weight_floats_per_group: int, input_floats_per_image: int) -> bool:
    """Whether a thread's consecutive items should run through the images with one output-channel group's
    weights (kept in L2) rather than through the groups with one image: when a group's weights are the
    bigger array to keep re-reading (ResNet-18's last stage: 590 KB per group against 205 KB per image)."""
    return weight_floats_per_group > input_floats_per_image


def render_direct(fn: Fn, mod, s: DirectConv, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Emit the loops of `s` for items [lo, hi) into `fn`. mod: the module being built (render.ModuleState:
    `intrinsic` declares, `functions` and `defined` hold the tile functions, each defined once per module)."""
    t = s.tile
    V = t.width
    fn.do(f"; direct convolution NCHW{V}c, register tile {t.ro}x{t.rw} ({t.kh}x{t.kw}, stride {t.stride})")
    rows = t.oh if s.pool is None else s.pool.ph
    scratch = None if s.pool is None else fn.alloca("float", t.ro * V * s.pool.kh * t.ow)
    item = fn.begin_loop(lo, hi)
    oh = fn.op(f"urem i64 {item.index}, {rows}")
    rest = fn.op(f"udiv i64 {item.index}, {rows}")
    inner = t.n if t.groups_outer else t.og
    second = fn.op(f"urem i64 {rest}, {inner}")
    first = fn.op(f"udiv i64 {rest}, {inner}")
    og, n = (first, second) if t.groups_outer else (second, first)
    sh, sw = t.stride
    wp = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.w]}, i64 {fn.op(f'mul nsw i64 {og}, {s.group_weights}')}")
    first_channel = fn.op(f"mul nsw i64 {og}, {t.ro * V}")
    left = fn.op(f"sub nsw i64 {s.out_channels}, {first_channel}")          # the group's channels inside
    valid = fn.op(f"select i1 {fn.op(f'icmp slt i64 {left}, {t.ro * V}')}, i64 {left}, i64 {t.ro * V}")
    chans = [fn.op(f"getelementptr inbounds float, ptr {ptrs[c]}, i64 {first_channel}") for c in s.epilogue.chans]
    if s.pool is not None:       # the item's pooled row: its KH result rows into the scratch, then pool them
        pooled_row = oh
        sub = fn.begin_loop("0", str(s.pool.kh))
        oh = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {pooled_row}, {s.pool.kh}')}, {sub.index}")
    # offsets (floats) of the row's first input pixel and of output block 0's row
    xrow = fn.op(f"mul nsw i64 {n}, {t.cb * t.hp}")
    if s.group_input_rows:
        xrow = fn.op(f"add nsw i64 {xrow}, {fn.op(f'mul nsw i64 {og}, {s.group_input_rows}')}")
    xrow = fn.op(f"add nsw i64 {xrow}, {fn.op(f'mul nsw i64 {oh}, {sh}')}")
    xrow = fn.op(f"mul nsw i64 {xrow}, {t.wp * t.ci}")
    copy_row = None
    if s.copy is not None:
        copy_row, _, copy_block = _blocked_row(fn, s, n, og, oh, ptrs[s.copy])
    if s.pool is not None:       # scratch: (RO * V channels, KH rows, OW pixels)
        yrow, pixel, ychan = fn.op(f"mul nsw i64 {sub.index}, {t.ow}"), 1, s.pool.kh * t.ow
    elif s.blocked_out:
        yrow, pixel, ychan = _blocked_row(fn, s, n, og, oh, ptrs[s.out])
    else:
        yrow = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {n}, {s.out_channels}')}, {first_channel}")
        yrow = fn.op(f"mul nsw i64 {yrow}, {t.oh}")
        yrow = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {yrow}, {oh}')}, {t.ow}")
        pixel, ychan = 1, t.oh * t.ow
    full, tail = divmod(t.ow, t.rw)
    for rw, count, first_pixel in ((t.rw, full, 0), (tail, 1, full * t.rw)):
        if not rw or not count:
            continue
        tiles = fn.begin_loop("0", str(count))
        ow0 = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {tiles.index}, {rw}')}, {first_pixel}")
        xo = fn.op(f"add nsw i64 {xrow}, {fn.op(f'mul nsw i64 {ow0}, {sw * t.ci}')}")
        yo = fn.op(f"add nsw i64 {yrow}, {fn.op(f'mul nsw i64 {ow0}, {pixel}')}")
        xp = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.x]}, i64 {xo}")
        yp = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.out] if scratch is None else scratch}, i64 {yo}")
        res = [fn.op(f"getelementptr inbounds float, ptr {ptrs[r]}, i64 {yo}") for r in s.epilogue.residuals]
        extra = "".join(f", ptr {p}" for p in chans + res)
        if copy_row is not None:
            at = fn.op(f"add nsw i64 {copy_row}, {fn.op(f'mul nsw i64 {ow0}, {V}')}")
            extra = f", ptr {fn.op(f'getelementptr inbounds float, ptr {ptrs[s.copy]}, i64 {at}')}, " \
                    f"i64 {copy_block}" + extra
        dh, dw = t.dilation
        masked = s.out_channels % (t.ro * V) != 0
        function = s.tile_function(mod, rw, masked, "blocked" if s.blocked_out else
                                   "both" if s.copy is not None else "nchw")
        fn.do(f"call void @{function}(ptr {xp}, ptr {wp}, ptr {yp}, "
              f"i64 {t.cb}, i64 {t.kh}, i64 {t.kw}, i64 {t.hp * t.wp * t.ci}, i64 {dh * t.wp * t.ci}, "
              f"i64 {dw * t.ci}, i64 {sw * t.ci}, i64 {ychan}, i64 {valid}{extra})")
        fn.end_loop(tiles)
    if s.pool is not None:
        fn.end_loop(sub)
        out = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {n}, {s.out_channels}')}, {first_channel}")
        out = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {out}, {s.pool.ph}')}, {pooled_row}")
        out = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.out]}, i64 {fn.op(f'mul nsw i64 {out}, {s.pool.pw}')}")
        render_pool_rows(fn, mod, s.pool, scratch, t.ow, out, valid, V)
    fn.end_loop(item)


def render_pool_rows(fn: Fn, mod, pool: PoolTail, scratch: str, ow: int, out: str, channels: str, width: int) -> None:
    """Pool the scratch rows of a pooled row (`channels` channels, each KH rows of `ow` floats) into `out`
    (channel c's pooled row at c * PH * PW floats): per chunk of up to `width` pooled columns, the KH rows'
    KW * chunk floats are combined as vectors, then the KW columns of each window by lane shuffles."""
    kh, kw = pool.kh, pool.kw
    channel = fn.begin_loop("0", channels)
    src = fn.op(f"getelementptr inbounds float, ptr {scratch}, i64 {fn.op(f'mul nsw i64 {channel.index}, {kh * ow}')}")
    dst = fn.op(f"getelementptr inbounds float, ptr {out}, i64 "
                f"{fn.op(f'mul nsw i64 {channel.index}, {pool.ph * pool.pw}')}")
    for first in range(0, pool.pw, width):
        count = min(width, pool.pw - first)
        wide, vt = f"<{kw * count} x float>", f"<{count} x float>"
        combine_wide = _pool_combine(fn, mod, pool.op, wide)
        combine = _pool_combine(fn, mod, pool.op, vt)
        rows = None
        for r in range(kh):
            p = fn.op(f"getelementptr inbounds float, ptr {src}, i64 {r * ow + first * kw}")
            row = fn.op(f"load {wide}, ptr {p}, align 4")
            rows = row if rows is None else combine_wide(rows, row)
        value = None
        for c in range(kw):
            mask = ", ".join(f"i32 {j * kw + c}" for j in range(count))
            column = fn.op(f"shufflevector {wide} {rows}, {wide} poison, <{count} x i32> <{mask}>")
            value = column if value is None else combine(value, column)
        if pool.op == "avg":
            div = ", ".join([f"float {lit(float(kh * kw), 'f32')}"] * count)
            value = fn.op(f"fdiv {vt} {value}, <{div}>")
        fn.do(f"store {vt} {value}, ptr {fn.op(f'getelementptr inbounds float, ptr {dst}, i64 {first}')}, align 4")
    fn.end_loop(channel)


def _pool_combine(fn: Fn, mod, op: str, vt: str):
    """(a, b) -> the pooling's combination of two vectors of type `vt`: NaN-propagating max (as the
    reference's max reduction), or a sum."""
    if op == "avg":
        return lambda a, b: fn.op(f"fadd {vt} {a}, {b}")
    lanes = vt[1:].split(" x ")[0]
    f = mod.intrinsic(f"llvm.maximum.v{lanes}f32", vt, vt, vt)
    return lambda a, b: fn.op(f"call {vt} {f}({vt} {a}, {vt} {b})")


def image_origin(fn: Fn, s: DirectConv, n: str, og: str, y: str):
    """For a stage storing the blocked image y (N, OB, OH + 2ph, OW + 2pw, V): (offset of block og * RO of image n,
    floats per block, zero(offset, floats): emits a memset of y's floats from offset on)."""
    t, (ph, pw) = s.tile, s.out_pad
    block = (t.oh + 2 * ph) * (t.ow + 2 * pw) * t.width
    blocks = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {n}, {t.ob}')}, {fn.op(f'mul nsw i64 {og}, {t.ro}')}")

    def zero(offset: str, floats: int) -> None:
        p = fn.op(f"getelementptr inbounds float, ptr {y}, i64 {offset}")
        fn.do(f"call void @llvm.memset.p0.i64(ptr align 4 {p}, i8 0, i64 {floats * 4}, i1 false)")
    return fn.op(f"mul nsw i64 {blocks}, {block}"), block, zero


def _blocked_row(fn: Fn, s: DirectConv, n: str, og: str, oh: str, y: str) -> tuple[str, int, int]:
    """For a DirectConv storing the blocked image: zero the border of the item's row (the left and right
    padding of its RO blocks; the top (bottom) padding rows too when it is the first (last) row), and return
    (offset of the row's first output pixel in block og * RO, floats per pixel, floats per block)."""
    t, (ph, pw) = s.tile, s.out_pad
    V, wp = t.width, t.ow + 2 * pw
    first, block, zero = image_origin(fn, s, n, og, y)
    row = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {oh}, {ph}')}, {wp * V}")
    for r in range(t.ro):
        start = fn.op(f"add nsw i64 {fn.op(f'add nsw i64 {first}, {row}')}, {r * block}")
        if pw:
            zero(start, pw * V)
            zero(fn.op(f"add nsw i64 {start}, {(pw + t.ow) * V}"), pw * V)
        if ph:
            with fn.when(fn.op(f"icmp eq i64 {oh}, 0"), "top_border"):
                zero(fn.op(f"add nsw i64 {first}, {r * block}"), ph * wp * V)
            with fn.when(fn.op(f"icmp eq i64 {oh}, {t.oh - 1}"), "bottom_border"):
                zero(fn.op(f"add nsw i64 {first}, {r * block + (ph + t.oh) * wp * V}"), ph * wp * V)
    return fn.op(f"add nsw i64 {fn.op(f'add nsw i64 {first}, {row}')}, {pw * V}"), V, block


def variant(mod, base: str, epilogue: TileEpilogue, masked: bool, stores: str) -> tuple[str, bool]:
    """The name of a tile function's variant (epilogue tree, masking, stores) and whether the module defines it
    already (if not, it is now marked defined: the caller emits it)."""
    name = base + ("" if epilogue == TileEpilogue() else f"e{epilogue.signature()}") + ("m" if masked else "") + \
        {"nchw": "", "blocked": "b", "both": "d"}[stores]
    if name in mod.defined:
        return name, True
    mod.defined.add(name)
    return name, False


def tile_header(name: str, epilogue: TileEpilogue, stores: str) -> Fn:
    """The function `name` with `tile_function`'s arguments (for this epilogue and stores)."""
    extra = "".join(f", ptr noalias %ch{i}" for i in range(len(epilogue.chans))) + \
        "".join(f", ptr %res{i}" for i in range(len(epilogue.residuals)))
    if stores == "both":
        extra = ", ptr noalias %yb, i64 %ybblock" + extra
    # y and a residual may be one array (a result computed in place): neither is noalias
    return Fn(f"define internal void @{name}(ptr noalias %x, ptr noalias %w, ptr %y, i64 %cb, i64 %kh, "
              f"i64 %kw, i64 %xcb, i64 %xkh, i64 %xkw, i64 %xpixel, i64 %ychan, i64 %valid{extra}) noinline nounwind")


def tile_function(mod, t: ConvTile, rw: int, epilogue: TileEpilogue = TileEpilogue(),
                   masked: bool = False, stores: str = "nchw") -> str:
    """The function computing one register tile (RO blocks x rw pixels), defined once per module for each
    (RO, rw, CI, V, epilogue tree, masking): the shape's other numbers are arguments, so the ResNet-18 graph's
    sixteen 3x3 convolutions share a few of them (each unrolls CI x (RO + rw) loads and CI x RO x rw FMAs).

    void f(ptr x, ptr w, ptr y, i64 cb, i64 kh, i64 kw, i64 x_cb, i64 x_kh, i64 x_kw, i64 x_pixel, i64 y_chan,
           i64 valid, ptr chan..., ptr residual...):
    x: the tile's first input pixel (channel block 0, tap 0,0); input block/row/column/pixel steps;
    w: the group's weights (CB x KH x KW steps of CI x RO x V floats); y: the NCHW result at the group's
    first channel and the tile's first pixel, channels y_chan floats apart; valid: the group's channels
    that exist in y (`masked` variant only: the others are neither computed nor stored); chan: the
    epilogue's per-channel values from the group's first channel; residual: like y.
    stores: "nchw" (y as above), "blocked" (y is the blocked image at the tile's first pixel of the group's
    first block, y_chan floats per block: `_store_blocked`), or "both": NCHW into y and, after `valid`, the
    arguments `ptr yb, i64 yb_block` of the blocked image (pixel vectors).
    An epilogue without residuals runs on the accumulators (whole vectors of channels, per-channel values
    loaded as vectors) before the transpose; one with residuals (NCHW rows) on the transposed rows, and for
    the "both" stores the rows are transposed back to pixel vectors."""
    V, vt = t.width, f"<{t.width} x float>"
    name, defined = variant(mod, f"hb_conv_tile_r{t.ro}w{rw}c{t.ci}v{V}", epilogue, masked, stores)
    if defined:
        return name
    fma = mod.intrinsic(f"llvm.fma.v{V}f32", vt, vt, vt, vt)
    fn = tile_header(name, epilogue, stores)
    n = t.ro * rw
    step = t.ci * t.ro * V                       # weight floats per (block, tap)
    loops, acc = [], ["zeroinitializer"] * n
    offsets = []
    for count, stride in (("%cb", "%xcb"), ("%kh", "%xkh"), ("%kw", "%xkw")):
        lp = fn.begin_loop("0", count, [(vt, a) for a in acc])
        loops.append(lp)
        acc = list(lp.carried)
        offsets.append(fn.op(f"mul nsw i64 {lp.index}, {stride}"))
    xo = fn.op(f"add nsw i64 {fn.op(f'add nsw i64 {offsets[0]}, {offsets[1]}')}, {offsets[2]}")
    xp = fn.op(f"getelementptr inbounds float, ptr %x, i64 {xo}")
    pixels = [fn.op(f"getelementptr inbounds float, ptr {xp}, i64 {fn.op(f'mul nsw i64 %xpixel, {j}')}")
              for j in range(rw)]
    tap = fn.op(f"mul nsw i64 {loops[0].index}, %kh")
    tap = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {tap}, {loops[1].index}')}, %kw")
    tap = fn.op(f"add nsw i64 {tap}, {loops[2].index}")
    wp = fn.op(f"getelementptr inbounds float, ptr %w, i64 {fn.op(f'mul nsw i64 {tap}, {step}')}")
    for ci in range(t.ci):
        wv = []
        for r in range(t.ro):
            p = fn.op(f"getelementptr inbounds float, ptr {wp}, i64 {(ci * t.ro + r) * V}")
            wv.append(fn.op(f"load {vt}, ptr {p}, align 4"))
        for j in range(rw):
            p = fn.op(f"getelementptr inbounds float, ptr {pixels[j]}, i64 {ci}")
            x = fn.op(f"load float, ptr {p}, align 4")
            x = fn.op(f"insertelement {vt} poison, float {x}, i64 0")
            x = fn.op(f"shufflevector {vt} {x}, {vt} poison, <{V} x i32> zeroinitializer")
            for r in range(t.ro):
                k = r * rw + j
                acc[k] = fn.op(f"call {vt} {fma}({vt} {x}, {vt} {wv[r]}, {vt} {acc[k]})")
    for lp in reversed(loops):
        acc = fn.end_loop(lp, acc)
    store_tile(fn, mod, V, epilogue, masked, stores, {r: acc[r * rw:(r + 1) * rw] for r in range(t.ro)},
               TileRefs.parameters(epilogue))
    fn.do("ret void")
    mod.functions.append(fn.text())
    return name


@dataclass(frozen=True)
class TileRefs:
    """The LLVM values a tile's stores address (see `tile_function`'s arguments): y, the blocked image yb
    ("both" stores) and the epilogue's per-channel values and residuals."""
    y: str
    yb: str
    chans: tuple[str, ...]
    residuals: tuple[str, ...]

    @staticmethod
    def parameters(epilogue: TileEpilogue) -> "TileRefs":
        return TileRefs("%y", "%yb", tuple(f"%ch{i}" for i in range(len(epilogue.chans))),
                        tuple(f"%res{i}" for i in range(len(epilogue.residuals))))


def store_tile(fn: Fn, mod, V: int, epilogue: TileEpilogue, masked: bool, stores: str, blocks: dict[int, list[str]],
               refs: TileRefs) -> None:
    """Apply `epilogue` to a register tile and store it as `stores` says (see `tile_function`): blocks[r] holds
    the V-channel vectors of block r's pixels (one output row, left to right). Uses %ychan, %valid and, for
    "both", %ybblock of the function being emitted."""
    vt = f"<{V} x float>"
    if stores == "blocked":      # each vector is stored as is after the epilogue on whole vectors
        for r, pixels in blocks.items():
            keep = _valid_lanes(fn, V, r) if masked else None
            memo: dict = {}
            for j, pixel in enumerate(pixels):
                at = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 %ychan, {r}')}, {j * V}")
                value = _render_epilogue(fn, mod, epilogue.expr, pixel, V, r * V, at, {}, refs, memo)
                if keep is not None:
                    value = fn.op(f"select <{V} x i1> {keep}, {vt} {value}, {vt} zeroinitializer")
                fn.do(f"store {vt} {value}, ptr {fn.op(f'getelementptr inbounds float, ptr {refs.y}, i64 {at}')}, "
                      "align 4")
        return
    early = not epilogue.residuals    # no NCHW operand: the epilogue runs on whole vectors of channels
    for r, pixels in blocks.items():  # channel r * V + lane: lane `lane` of block r's pixel vectors
        rw = len(pixels)
        if early:
            vectors: dict = {}
            pixels = [_render_epilogue(fn, mod, epilogue.expr, a, V, r * V, "", {}, refs, vectors) for a in pixels]
        values = []
        for lane, row in enumerate(_transpose(fn, pixels, V)):
            c = r * V + lane
            if stores == "both" and not early:  # every channel's value for the image: residuals read in bounds
                read = fn.op(f"select i1 {fn.op(f'icmp slt i64 {c}, %valid')}, i64 {c}, i64 "
                             f"{fn.op('sub nsw i64 %valid, 1')}") if masked else str(c)
                values.append(_render_epilogue(fn, mod, epilogue.expr, row, rw, c,
                                               fn.op(f"mul nsw i64 %ychan, {read}"), {}, refs))
            with fn.when(fn.op(f"icmp slt i64 {c}, %valid"), "channel") if masked else nullcontext():
                at = fn.op(f"mul nsw i64 %ychan, {c}")
                value = row if early else values[-1] if values else \
                    _render_epilogue(fn, mod, epilogue.expr, row, rw, c, at, {}, refs)
                fn.do(f"store <{rw} x float> {value}, ptr "
                      f"{fn.op(f'getelementptr inbounds float, ptr {refs.y}, i64 {at}')}, align 4")
        if stores == "both":
            keep = _valid_lanes(fn, V, r) if masked else None
            for j, pixel in enumerate(pixels if early else _transpose(fn, values, rw)):
                if keep is not None:
                    pixel = fn.op(f"select <{V} x i1> {keep}, {vt} {pixel}, {vt} zeroinitializer")
                at = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 %ybblock, {r}')}, {j * V}")
                fn.do(f"store {vt} {pixel}, ptr {fn.op(f'getelementptr inbounds float, ptr {refs.yb}, i64 {at}')}, "
                      "align 4")


def _valid_lanes(fn: Fn, width: int, block: int) -> str:
    """<width x i1>: which lanes of the group's block `block` hold channels below %valid."""
    lanes = ", ".join(f"i64 {block * width + lane}" for lane in range(width))
    limit = fn.op(f"insertelement <{width} x i64> poison, i64 %valid, i64 0")
    limit = fn.op(f"shufflevector <{width} x i64> {limit}, <{width} x i64> poison, <{width} x i32> zeroinitializer")
    return fn.op(f"icmp slt <{width} x i64> <{lanes}>, {limit}")


_VECTOR_OPS = {"add": "fadd contract", "sub": "fsub contract", "mul": "fmul contract", "div": "fdiv"}
_COMPARES = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}
TILE_EPILOGUE_OPS = set(_VECTOR_OPS) | set(_COMPARES) | {"max", "min", "neg", "select"}


def _render_epilogue(fn: Fn, mod, e: tuple, row: str, rw: int, channel: int, at: str, memo: dict,
                     refs: TileRefs, channel_vectors: Optional[dict] = None) -> str:
    """The value of epilogue tree `e` for one output channel's rw pixels (`row`: the convolution's values;
    `at`: the row's offset from y, the same in each residual; refs: where the operands are). With `channel_vectors` (a memo shared by a
    block's pixels), `row` is one pixel's rw channels from `channel` on instead: per-channel values are
    loaded as vectors."""
    if e in memo:
        return memo[e]
    vt = f"<{rw} x float>"
    op = e[0]
    if op == "acc":
        out = row
    elif op == "chan" and channel_vectors is not None:
        if e not in channel_vectors:
            p = fn.op(f"getelementptr inbounds float, ptr {refs.chans[e[1]]}, i64 {channel}")
            channel_vectors[e] = fn.op(f"load {vt}, ptr {p}, align 4")
        out = channel_vectors[e]
    elif op in ("const", "chan"):
        if op == "const":
            scalar = lit(e[1], "f32")
        else:
            p = fn.op(f"getelementptr inbounds float, ptr {refs.chans[e[1]]}, i64 {channel}")
            scalar = fn.op(f"load float, ptr {p}, align 4")
        one = fn.op(f"insertelement {vt} poison, float {scalar}, i64 0")
        out = fn.op(f"shufflevector {vt} {one}, {vt} poison, <{rw} x i32> zeroinitializer")
    elif op == "res":
        p = fn.op(f"getelementptr inbounds float, ptr {refs.residuals[e[1]]}, i64 {at}")
        out = fn.op(f"load {vt}, ptr {p}, align 4")
    else:
        args = [_render_epilogue(fn, mod, a, row, rw, channel, at, memo, refs, channel_vectors) for a in e[1:]]
        if op in _VECTOR_OPS:
            out = fn.op(f"{_VECTOR_OPS[op]} {vt} {args[0]}, {args[1]}")
        elif op in _COMPARES:
            out = fn.op(f"fcmp {_COMPARES[op]} {vt} {args[0]}, {args[1]}")
        elif op == "neg":
            out = fn.op(f"fneg {vt} {args[0]}")
        elif op in ("max", "min"):
            f = mod.intrinsic(f"llvm.{op}imum.v{rw}f32", vt, vt, vt)
            out = fn.op(f"call {vt} {f}({vt} {args[0]}, {vt} {args[1]})")
        else:
            out = fn.op(f"select <{rw} x i1> {args[0]}, {vt} {args[1]}, {vt} {args[2]}")
    memo[e] = out
    return out


def _transpose(fn: Fn, vectors: list[str], width: int) -> list[str]:
    """The rows of the rw x V matrix `vectors` (rw vectors of V floats) transposed: V vectors of rw floats.
    The vectors are concatenated into one (zero vectors pad their count to a power of two), permuted once
    and cut into rows, which LLVM lowers to two-source permutes rather than an extract and an insert per
    element."""
    rw = len(vectors)
    parts = list(vectors) + ["zeroinitializer"] * ((1 << (rw - 1).bit_length()) - rw)   # a power of two
    n = width
    while len(parts) > 1:                  # concatenate pairwise (shufflevector takes two equal types)
        mask = ", ".join(f"i32 {k}" for k in range(2 * n))
        parts = [fn.op(f"shufflevector <{n} x float> {parts[i]}, <{n} x float> {parts[i + 1]}, "
                       f"<{2 * n} x i32> <{mask}>") for i in range(0, len(parts), 2)]
        n *= 2
    whole = parts[0]
    ty = f"<{n} x float>"
    mask = ", ".join(f"i32 {j * width + lane}" for lane in range(width) for j in range(rw))
    t = fn.op(f"shufflevector {ty} {whole}, {ty} poison, <{rw * width} x i32> <{mask}>")
    tt = f"<{rw * width} x float>"
    return [fn.op(f"shufflevector {tt} {t}, {tt} poison, <{rw} x i32> <"
                  + ", ".join(f"i32 {lane * rw + j}" for j in range(rw)) + ">") for lane in range(width)]


def direct_shape(o: int, c: int, width: int) -> tuple[int, int, int]:
    """(input channel blocks, channels per block, output blocks) for C input and O output channels."""
    ci = width if c >= width else c
    return math.ceil(c / ci), ci, math.ceil(o / width)


def standalone_ir(tile: ConvTile, triple: str, stores: str = "nchw") -> str:
    """A module defining `void hybrid_conv_direct(ptr x, ptr w, ptr y, ptr yb, i64 lo, i64 hi)`: items [lo, hi)
    of a direct convolution of `tile` storing y in NCHW, the blocked image (padding 1) in y, or both (the image
    in yb), as `stores` says (for inspecting the code generated for any vector width)."""
    return standalone_module(DirectConv("y", "x", "w", tile), render_direct, triple, stores)


def standalone_module(conv: DirectConv, render, triple: str, stores: str) -> str:
    """The module of `standalone_ir` for the stage `conv` (stores set here), emitted by `render` (render_direct or
    conv_winograd.render_winograd)."""
    class Module:
        def __init__(self):
            self.declares: set[str] = set()
            self.defined: set[str] = set()
            self.functions: list[str] = []

        def intrinsic(self, name: str, ret: str, *args: str) -> str:
            self.declares.add(f"declare {ret} @{name}({', '.join(args)})")
            return f"@{name}"
    mod = Module()
    fn = Fn("define void @hybrid_conv_direct(ptr noalias %x, ptr noalias %w, ptr noalias %y, ptr noalias %yb, "
            "i64 %lo, i64 %hi)")
    conv.out_pad = None if stores == "nchw" else (1, 1)
    conv.copy = "yb" if stores == "both" else None
    mod.declares.add("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
    render(fn, mod, conv, {"x": "%x", "w": "%w", "y": "%y", "yb": "%yb"}, "%lo", "%hi")
    fn.do("ret void")
    return "\n".join([f'target triple = "{triple}"'] + sorted(mod.declares) + mod.functions + [fn.text()])
