"""Winograd convolution F(m x m, 3 x 3) for 3x3 stride-1 convolutions (LLVM backend, float32; m = 2 or 4).

Each m x m tile of the output is computed from an (m+2) x (m+2) tile d of the input as
    Y = A^T [ (G g G^T) (*) (B^T d B) ] A                (*): elementwise over the a x a "frequencies", a = m+2
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): per tile and channel pair,
a*a multiplications instead of 9*m*m (F(2x2,3x3): 2.25x fewer, F(4x4,3x3): 4x). Summed over the input
channels, each frequency is one matrix product, U[f] (O x C) by V[f] (C x tiles), so the work is a*a
GEMMs, run by the direct convolution's register tile (conv_direct.py) as 1x1 convolutions over the
"pixels" = tiles. Float32 error grows with m (the transforms' coefficients): F(2x2) stays within about
1e-5 relative of the direct sum, F(4x4) within about 1e-4 (tests/codegen/test_conv_winograd.py).

Layouts (V = floats per vector, CI, CB, RO, OG as in conv_direct.py):
    input    the direct kernel's padded NCHW[CI]c (N, CB, HP, WP, CI), read in place
    weights  U = G g G^T packed (OG, a, a, CB, CI, RO, V): a (prepacked) kernel Stage
             (kernel/winograd.py's weight_expr, which also holds the transform matrices)
    scratch  per work item, on the stack: V[f][cb][tile][ci] (the transformed inputs of a chunk of tiles; a
             frequency's channel blocks adjacent, so each GEMM reads one run) and M[f][r][tile][V] (the
             GEMM results of one output-channel group)
    output   as the direct kernel's: NCHW, the blocked image, or both, with the same fused epilogue.

A work item is (image, chunk of `chunk` tiles, tiles numbered row by row over the image, range of output-channel
groups: all of them unless the images have too few chunks to share out, `group_parts`): transform the
chunk's inputs (`_input_function`: vector adds over whole pixels of CI channels), then per output-channel
group the a*a GEMMs (the register tile's "blocked" variant storing into M) and the output transform of
each tile (`_output_function`, which also applies the epilogue and stores, through conv_direct.store_tile).
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

from ..kernel.winograd import TRANSFORMS
from .conv_direct import (ConvTile, DirectConv, TileEpilogue, TileRefs, image_origin, standalone_module, store_tile,
                          tile_function, variant)
from .emit import Fn, lit

SCRATCH_FLOATS = 1 << 15        # per work item, on the thread's stack (128 KB; 512 KB measured no faster on AVX2)
DEEP_SCRATCH_FLOATS = 1 << 19   # the same when the transformed weights outgrow the L2 cache (2 MB: see chunk_tiles)
CACHED_WEIGHT_FLOATS = 1 << 18  # transformed weights up to this (1 MB) stay in a core's L2 between work items
SHARED_ITEMS = 4                # work items wanted per convolution, for the threads to share out (group_parts)


def chunk_tiles(m: int, tiles: int, rw: int, cb: int, ci: int, ro: int, og: int, width: int) -> int:
    """Tiles per work item: whole register tiles (rw), the scratch (transformed inputs + one group's GEMM
    results) within SCRATCH_FLOATS, and the image's tiles split into chunks of about equal size (the GEMM
    runs over a whole chunk: a last chunk of a few tiles would cost as much as a full one).
    Each work item streams all the transformed weights (a*a*C*O floats) past its chunk of tiles, so a
    chunk's tiles are the reuse of each weight read: once the weights outgrow L2 (256 channels and up)
    they come from L3 at every item, and on AVX-512 hosts (L2 of 1-2 MB) the scratch may take
    DEEP_SCRATCH_FLOATS to make the chunks longer (Sapphire Rapids, one thread, CPU ms, batch 8: ResNet-18's
    256 channels at 16x16 F(4x4) 14.1 -> 8.2 ms with a 1 MB scratch, 7.4-7.7 with 2 MB, 7.2 with 4 MB; 128 at
    32x32 12.4 -> 8.3 (1 MB), 8.0 (2 MB). 2 MB: this host's L2, a quarter of the usual 8 MB thread stack that
    holds it; the 64-channel layers, whose
    weights stay in L2, measured no faster). AVX2 keeps SCRATCH_FLOATS (znver1's L2 is 512 KB)."""
    most = _register_tiles(m, rw, cb, ci, ro, og, width)
    steps = math.ceil(tiles / rw)                           # register tiles per image
    return rw * math.ceil(steps / math.ceil(steps / most))


def _register_tiles(m: int, rw: int, cb: int, ci: int, ro: int, og: int, width: int) -> int:
    """Register tiles (of rw tiles) the scratch of a work item holds (see chunk_tiles)."""
    per_tile = (m + 2) ** 2 * (cb * ci + ro * width)
    budget = DEEP_SCRATCH_FLOATS if _deep(m, cb, ci, ro, og, width) else SCRATCH_FLOATS
    return max(1, budget // (per_tile * rw))


def _deep(m: int, cb: int, ci: int, ro: int, og: int, width: int) -> bool:
    """Whether the transformed weights outgrow L2 on a 16-float host (see chunk_tiles)."""
    return width >= 16 and (m + 2) ** 2 * cb * ci * og * ro * width > CACHED_WEIGHT_FLOATS


def chunking(m: int, tiles: int, rw: int, cb: int, ci: int, ro: int, og: int, width: int,
             images: int) -> tuple[int, int]:
    """(tiles per work item, whole images per work item) for `images` images of `tiles` tiles each: when the
    transformed weights outgrow L2 and the scratch holds the tiles of at least two images (ResNet-18's 512
    channels at 8x8 have 4 tiles per image), a chunk covers whole images, about equally many per chunk, so
    their tiles share each weight read (F(4x4) there, one thread: 21.1 ms with 4-tile chunks, 13.8-14.0 with
    3 images per chunk (1 MB scratch), 10.5-10.7 with 4 (2 MB), 8.1 with all 8 (4 MB)); otherwise
    (chunk_tiles(...), 1)."""
    fit = _register_tiles(m, rw, cb, ci, ro, og, width) * rw // tiles
    if fit < 2 or images < 2 or not _deep(m, cb, ci, ro, og, width):
        return chunk_tiles(m, tiles, rw, cb, ci, ro, og, width), 1
    per_chunk = math.ceil(images / math.ceil(images / min(fit, images)))
    return rw * math.ceil(per_chunk * tiles / rw), per_chunk


def group_parts(chunks: int, og: int) -> int:
    """Into how many ranges a work item's output-channel groups are split when the images have fewer than
    SHARED_ITEMS chunks of tiles in all (batch 1 at 7x7: one chunk): each range is an item of its own, which
    transforms the chunk's inputs again (a few percent of its GEMMs), so that every thread gets work."""
    return max(1, min(og, -(-SHARED_ITEMS // chunks)))


@dataclass
class WinogradConv(DirectConv):
    """A kernel stage: out = epilogue(conv(x, w)) through F(m x m, 3 x 3); x and the stores as DirectConv's
    (tile: its shape constants, with tile.rw the tiles per GEMM register tile), w packed by `weight_expr`."""
    m: int = 2
    chunk: int = 1
    parts: int = 1              # work items per chunk, each running a range of the output-channel groups
    images: int = 1             # whole images per chunk (chunking); above 1, a chunk holds them all

    @property
    def tiles(self) -> tuple[int, int]:
        """Output tiles per image: (rows, columns)."""
        return math.ceil(self.tile.oh / self.m), math.ceil(self.tile.ow / self.m)

    @property
    def chunks(self) -> int:
        """Chunks per group of `images` images."""
        th, tw = self.tiles
        return 1 if self.images > 1 else math.ceil(th * tw / self.chunk)

    @property
    def items(self) -> int:
        return math.ceil(self.tile.n / self.images) * self.chunks * self.parts

    def __str__(self) -> str:
        return super().__str__().replace("direct_conv(", f"winograd_conv(F({self.m}x{self.m},3x3), ", 1)


def _splat(value: float, n: int) -> str:
    """The <n x float> constant with every lane `value` (an operand: no type prefix)."""
    return "<" + ", ".join([f"float {lit(value, 'f32')}"] * n) + ">"


def _combine(fn: Fn, coefs: list, vectors: list[str], n: int) -> str:
    """sum_k coefs[k] * vectors[k] over <n x float> values, skipping zero coefficients (+-1: an add/sub)."""
    vt, total = f"<{n} x float>", None
    for c, v in zip(coefs, vectors):
        if c == 0:
            continue
        if c not in (1, -1):
            v, c = fn.op(f"fmul contract {vt} {v}, {_splat(float(abs(c)), n)}"), (1 if c > 0 else -1)
        if total is None:
            total = v if c == 1 else fn.op(f"fneg {vt} {v}")
        else:
            total = fn.op(f"{'fadd' if c == 1 else 'fsub'} contract {vt} {total}, {v}")
    return total if total is not None else "zeroinitializer"


def _input_function(mod, m: int, ci: int) -> str:
    """void f(ptr x, ptr v, i64 p0, i64 tiles, i64 tw, i64 cb, i64 hp, i64 wp, i64 xcb, i64 run): for each
    channel block and the tiles p0 .. p0+tiles-1 of the image at x (blocked, padded: cb blocks of hp x wp pixels
    of ci channels, xcb floats apart; tw tiles per row), the a x a transformed pixels B^T d B, stored at
    v[f][cb][tile][ci] with `run` tiles per (f, cb). Pixels past the padded image read as zeros (the last row
    and column of tiles)."""
    name = f"hb_wino_in_m{m}c{ci}"
    if name in mod.defined:
        return name
    mod.defined.add(name)
    a, bt = m + 2, TRANSFORMS[m][0]
    vt = f"<{ci} x float>"
    fn = Fn(f"define internal void @{name}(ptr noalias %x, ptr noalias %v, i64 %p0, i64 %tiles, i64 %tw, i64 %cb, "
            "i64 %hp, i64 %wp, i64 %xcb, i64 %run) noinline nounwind")
    block = fn.begin_loop("0", "%cb")
    xb = fn.op(f"getelementptr inbounds float, ptr %x, i64 {fn.op(f'mul nsw i64 {block.index}, %xcb')}")
    vcb = fn.op(f"mul nsw i64 %run, {ci}")
    vb = fn.op(f"getelementptr inbounds float, ptr %v, i64 {fn.op(f'mul nsw i64 {block.index}, {vcb}')}")
    vf = fn.op("mul nsw i64 %run, %cb")                       # tiles of all blocks per frequency
    tile = fn.begin_loop("0", "%tiles")
    p = fn.op(f"add nsw i64 %p0, {tile.index}")
    row0 = fn.op(f"mul nsw i64 {fn.op(f'udiv i64 {p}, %tw')}, {m}")
    col0 = fn.op(f"mul nsw i64 {fn.op(f'urem i64 {p}, %tw')}, {m}")
    rows, cols = [], []
    for k in range(a):
        for start, limit, out in ((row0, "%hp", rows), (col0, "%wp", cols)):
            at = fn.op(f"add nsw i64 {start}, {k}")
            inside = fn.op(f"icmp ult i64 {at}, {limit}")
            out.append((inside, fn.op(f"select i1 {inside}, i64 {at}, i64 0")))
    d = []
    for ok_r, r in rows:
        line = fn.op(f"mul nsw i64 {r}, %wp")
        d.append([])
        for ok_c, c in cols:
            at = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {line}, {c}')}, {ci}")
            value = fn.op(f"load {vt}, ptr {fn.op(f'getelementptr inbounds float, ptr {xb}, i64 {at}')}, align 4")
            d[-1].append(fn.op(f"select i1 {fn.op(f'and i1 {ok_r}, {ok_c}')}, {vt} {value}, {vt} zeroinitializer"))
    cols_t = [[_combine(fn, bt[xi], [d[i][j] for i in range(a)], ci) for j in range(a)] for xi in range(a)]
    for xi in range(a):
        for nu in range(a):
            value = _combine(fn, bt[nu], cols_t[xi], ci)
            at = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {vf}, {xi * a + nu}')}, {tile.index}")
            at = fn.op(f"mul nsw i64 {at}, {ci}")
            fn.do(f"store {vt} {value}, ptr {fn.op(f'getelementptr inbounds float, ptr {vb}, i64 {at}')}, align 4")
    fn.end_loop(tile)
    fn.end_loop(block)
    fn.do("ret void")
    mod.functions.append(fn.text())
    return name


def _output_function(mod, m: int, cols: int, ro: int, width: int, epilogue: TileEpilogue, masked: bool,
                     stores: str) -> str:
    """void f(ptr m, i64 mf, i64 mblock, ptr y, i64 yrow, i64 rows, i64 ychan, i64 valid[, ptr yb, i64 ybblock,
    i64 ybrow], ptr chan..., ptr residual...): the output tile A^T M A of RO blocks (block r's frequency f at
    m + f * mf + r * mblock), its first `rows` rows of `cols` pixels stored like the direct kernel's register
    tile (conv_direct.store_tile): y (and the residuals) at the tile's first pixel, output rows yrow floats
    apart; "both" stores: the blocked image at yb, rows ybrow floats apart."""
    V, vt = width, f"<{width} x float>"
    name, defined = variant(mod, f"hb_wino_out_m{m}w{cols}r{ro}v{V}", epilogue, masked, stores)
    if defined:
        return name
    a, at_ = m + 2, TRANSFORMS[m][2]
    refs = TileRefs.parameters(epilogue)
    extra = "".join(f", ptr noalias {c}" for c in refs.chans) + "".join(f", ptr {r}" for r in refs.residuals)
    if stores == "both":
        extra = ", ptr noalias %yb, i64 %ybblock, i64 %ybrow" + extra
    fn = Fn(f"define internal void @{name}(ptr noalias %m, i64 %mf, i64 %mblock, ptr %y, i64 %yrow, i64 %rows, "
            f"i64 %ychan, i64 %valid{extra}) noinline nounwind")
    out = {}                  # r -> rows of pixel vectors
    for r in range(ro):
        base = fn.op(f"getelementptr inbounds float, ptr %m, i64 {fn.op(f'mul nsw i64 %mblock, {r}')}")
        freq = []
        for f in range(a * a):
            p = fn.op(f"getelementptr inbounds float, ptr {base}, i64 {fn.op(f'mul nsw i64 %mf, {f}')}")
            freq.append(fn.op(f"load {vt}, ptr {p}, align 4"))
        half = [[_combine(fn, at_[i], [freq[xi * a + nu] for xi in range(a)], V) for nu in range(a)] for i in range(m)]
        out[r] = [[_combine(fn, at_[j], half[i], V) for j in range(cols)] for i in range(m)]
    for i in range(m):
        inside = fn.when(fn.op(f"icmp slt i64 {i}, %rows"), "row") if i else nullcontext()
        with inside:
            def shift(ptr: str, step: str) -> str:
                return fn.op(f"getelementptr inbounds float, ptr {ptr}, i64 {fn.op(f'mul nsw i64 {step}, {i}')}")
            row_refs = TileRefs(shift("%y", "%yrow"), shift("%yb", "%ybrow") if stores == "both" else "%yb",
                                refs.chans, tuple(shift(res, "%yrow") for res in refs.residuals))
            store_tile(fn, mod, V, epilogue, masked, stores, {r: out[r][i] for r in range(ro)}, row_refs)
    fn.do("ret void")
    mod.functions.append(fn.text())
    return name


def render_winograd(fn: Fn, mod, s: WinogradConv, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Emit the work items [lo, hi) of `s` into `fn` (see the module docstring; mod as conv_direct.render_direct's)."""
    t, m, V = s.tile, s.m, s.tile.width
    a2, chunk = (m + 2) ** 2, s.chunk
    rows_n, cols_n = s.tiles
    per_image = rows_n * cols_n
    fn.do(f"; winograd convolution F({m}x{m},3x3) NCHW{V}c, GEMM tile {t.ro}x{t.rw}, {chunk} tiles per item")
    vs = fn.alloca("float", t.cb * a2 * chunk * t.ci)
    ms = fn.alloca("float", a2 * t.ro * chunk * V)
    transform = _input_function(mod, m, t.ci)
    gemm = tile_function(mod, t, t.rw, TileEpilogue(), False, "blocked")
    masked = s.out_channels % (t.ro * V) != 0
    stores = "blocked" if s.blocked_out else "both" if s.copy is not None else "nchw"
    tail = t.ow % m
    outputs = {cols: _output_function(mod, m, cols, t.ro, V, s.epilogue, masked, stores) for cols in {m, tail} if cols}
    item = fn.begin_loop(lo, hi)
    per_part = -(-t.og // s.parts)                            # groups per item
    part = fn.op(f"urem i64 {item.index}, {s.parts}")
    rest = fn.op(f"udiv i64 {item.index}, {s.parts}")
    first_group = fn.op(f"mul nsw i64 {part}, {per_part}")
    end_group = fn.op(f"add nsw i64 {first_group}, {per_part}")
    end_group = fn.op(f"select i1 {fn.op(f'icmp slt i64 {end_group}, {t.og}')}, i64 {end_group}, i64 {t.og}")
    n = fn.op(f"mul nsw i64 {fn.op(f'udiv i64 {rest}, {s.chunks}')}, {s.images}")     # the chunk's first image
    p0 = fn.op(f"mul nsw i64 {fn.op(f'urem i64 {rest}, {s.chunks}')}, {chunk}")
    image = t.cb * t.hp * t.wp * t.ci

    def transform_tiles(first_image: str, at: str, p: str, tiles: str) -> None:
        xn = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.x]}, i64 {fn.op(f'mul nsw i64 {first_image}, {image}')}")
        v = fn.op(f"getelementptr inbounds float, ptr {vs}, i64 {fn.op(f'mul nsw i64 {at}, {t.ci}')}")
        fn.do(f"call void @{transform}(ptr {xn}, ptr {v}, i64 {p}, i64 {tiles}, i64 {cols_n}, i64 {t.cb}, "
              f"i64 {t.hp}, i64 {t.wp}, i64 {t.hp * t.wp * t.ci}, i64 {chunk})")
    if s.images == 1:
        left = fn.op(f"sub nsw i64 {per_image}, {p0}")
        count = fn.op(f"select i1 {fn.op(f'icmp slt i64 {left}, {chunk}')}, i64 {left}, i64 {chunk}")
        transform_tiles(n, "0", p0, str(chunk))
    else:                       # the chunk's images (fewer in the last chunk), each image's tiles after the last's
        left = fn.op(f"sub nsw i64 {t.n}, {n}")
        present = fn.op(f"select i1 {fn.op(f'icmp slt i64 {left}, {s.images}')}, i64 {left}, i64 {s.images}")
        count = fn.op(f"mul nsw i64 {present}, {per_image}")
        each_image = fn.begin_loop("0", present)
        transform_tiles(fn.op(f"add nsw i64 {n}, {each_image.index}"),
                        fn.op(f"mul nsw i64 {each_image.index}, {per_image}"), "0", str(per_image))
        fn.end_loop(each_image)
    group = fn.begin_loop(first_group, end_group)
    weights = t.cb * t.ci * t.ro * V                         # floats per (group, frequency)
    wg = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.w]}, i64 {fn.op(f'mul nsw i64 {group.index}, {a2 * weights}')}")
    freq = fn.begin_loop("0", str(a2))
    wf = fn.op(f"getelementptr inbounds float, ptr {wg}, i64 {fn.op(f'mul nsw i64 {freq.index}, {weights}')}")
    xf = fn.op(f"getelementptr inbounds float, ptr {vs}, i64 {fn.op(f'mul nsw i64 {freq.index}, {t.cb * chunk * t.ci}')}")
    yf = fn.op(f"getelementptr inbounds float, ptr {ms}, i64 {fn.op(f'mul nsw i64 {freq.index}, {t.ro * chunk * V}')}")
    tiles = fn.begin_loop("0", str(chunk // t.rw))
    xj = fn.op(f"getelementptr inbounds float, ptr {xf}, i64 {fn.op(f'mul nsw i64 {tiles.index}, {t.rw * t.ci}')}")
    yj = fn.op(f"getelementptr inbounds float, ptr {yf}, i64 {fn.op(f'mul nsw i64 {tiles.index}, {t.rw * V}')}")
    fn.do(f"call void @{gemm}(ptr {xj}, ptr {wf}, ptr {yj}, i64 {t.cb}, i64 1, i64 1, i64 {chunk * t.ci}, i64 0, "
          f"i64 0, i64 {t.ci}, i64 {chunk * V}, i64 {t.ro * V})")
    fn.end_loop(tiles)
    fn.end_loop(freq)
    first_channel = fn.op(f"mul nsw i64 {group.index}, {t.ro * V}")
    left = fn.op(f"sub nsw i64 {s.out_channels}, {first_channel}")
    valid = fn.op(f"select i1 {fn.op(f'icmp slt i64 {left}, {t.ro * V}')}, i64 {left}, i64 {t.ro * V}")
    chans = [fn.op(f"getelementptr inbounds float, ptr {ptrs[c]}, i64 {first_channel}") for c in s.epilogue.chans]
    each = fn.begin_loop("0", count)
    if s.images == 1:
        p = fn.op(f"add nsw i64 {p0}, {each.index}")
        n_each = n
    else:
        p = fn.op(f"urem i64 {each.index}, {per_image}")
        n_each = fn.op(f"add nsw i64 {n}, {fn.op(f'udiv i64 {each.index}, {per_image}')}")
    th, tw = fn.op(f"udiv i64 {p}, {cols_n}"), fn.op(f"urem i64 {p}, {cols_n}")
    oh0, ow0 = fn.op(f"mul nsw i64 {th}, {m}"), fn.op(f"mul nsw i64 {tw}, {m}")
    below = fn.op(f"sub nsw i64 {t.oh}, {oh0}")
    rows = fn.op(f"select i1 {fn.op(f'icmp slt i64 {below}, {m}')}, i64 {below}, i64 {m}")
    mt = fn.op(f"getelementptr inbounds float, ptr {ms}, i64 {fn.op(f'mul nsw i64 {each.index}, {V}')}")
    nchw = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {n_each}, {s.out_channels}')}, {first_channel}")
    nchw = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {nchw}, {t.oh}')}, {oh0}")
    nchw = fn.op(f"add nsw i64 {fn.op(f'mul nsw i64 {nchw}, {t.ow}')}, {ow0}")
    image_args = ""
    if s.out_pad is not None:
        target = ptrs[s.out] if s.blocked_out else ptrs[s.copy]
        at, block, row = _blocked_tile(fn, s, target, n_each, group.index, th, tw, oh0, ow0, rows)
        yb = fn.op(f"getelementptr inbounds float, ptr {target}, i64 {at}")
        image_args = f", ptr {yb}, i64 {block}, i64 {row}"
    if s.blocked_out:
        y_args = f"ptr {yb}, i64 {row}, i64 {rows}, i64 {block}"
        image_args = ""
    else:
        y = fn.op(f"getelementptr inbounds float, ptr {ptrs[s.out]}, i64 {nchw}")
        y_args = f"ptr {y}, i64 {t.ow}, i64 {rows}, i64 {t.oh * t.ow}"
    res = [fn.op(f"getelementptr inbounds float, ptr {ptrs[r]}, i64 {nchw}") for r in s.epilogue.residuals]
    extra = image_args + "".join(f", ptr {c}" for c in chans + res)

    def call(cols: int) -> None:
        fn.do(f"call void @{outputs[cols]}(ptr {mt}, i64 {t.ro * chunk * V}, i64 {chunk * V}, {y_args}, "
              f"i64 {valid}{extra})")
    if tail:
        last = fn.op(f"icmp eq i64 {tw}, {cols_n - 1}")
        with fn.when(last, "tail_tile"):
            call(tail)
        with fn.when(fn.op(f"xor i1 {last}, true"), "full_tile"):
            call(m)
    else:
        call(m)
    fn.end_loop(each)
    fn.end_loop(group)
    fn.end_loop(item)


def _blocked_tile(fn: Fn, s: WinogradConv, y: str, n: str, og: str, th: str, tw: str, oh0: str, ow0: str,
                  rows: str) -> tuple[str, int, int]:
    """For a tile stored into the blocked image y (N, OB, OH + 2ph, OW + 2pw, V): zero the image's border next
    to the tile in the group's RO blocks (the left/right padding of its rows when it is the first/last tile
    of its row; the top/bottom padding rows with the first tile of the first/last row), and return (offset of
    the tile's first pixel in block og * RO, floats per block, floats per image row)."""
    t, (ph, pw) = s.tile, s.out_pad
    V, line = t.width, (t.ow + 2 * pw) * t.width
    rows_n, cols_n = s.tiles
    first, block, zero = image_origin(fn, s, n, og, y)
    top = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {oh0}, {ph}')}, {line}")
    column = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {ow0}, {pw}')}, {V}")
    at = fn.op(f"add nsw i64 {fn.op(f'add nsw i64 {first}, {top}')}, {column}")
    if pw:
        for column, side, edge in ((0, "left", "0"), (pw + t.ow, "right", str(cols_n - 1))):
            with fn.when(fn.op(f"icmp eq i64 {tw}, {edge}"), f"{side}_border"):
                each = fn.begin_loop("0", rows)
                start = fn.op(f"add nsw i64 {fn.op(f'add nsw i64 {first}, {top}')}, "
                              f"{fn.op(f'mul nsw i64 {each.index}, {line}')}")
                for r in range(t.ro):
                    zero(fn.op(f"add nsw i64 {start}, {r * block + column * V}"), pw * V)
                fn.end_loop(each)
    if ph:
        first_col = fn.op(f"icmp eq i64 {tw}, 0")
        for row, side, edge in ((0, "top", "0"), (ph + t.oh, "bottom", str(rows_n - 1))):
            with fn.when(fn.op(f"and i1 {first_col}, {fn.op(f'icmp eq i64 {th}, {edge}')}"), f"{side}_border"):
                for r in range(t.ro):
                    zero(fn.op(f"add nsw i64 {first}, {r * block + row * line}"), ph * line)
    return at, block, line


def standalone_ir(tile: ConvTile, m: int, triple: str, stores: str = "nchw") -> str:
    """conv_direct.standalone_ir for Winograd F(m x m, 3x3) on `tile` (a 3x3 stride-1 shape; tile.rw: tiles per
    GEMM register tile)."""
    chunk, images = chunking(m, math.ceil(tile.oh / m) * math.ceil(tile.ow / m), tile.rw, tile.cb, tile.ci, tile.ro,
                             tile.og, tile.width, tile.n)
    return standalone_module(WinogradConv("y", "x", "w", tile, m=m, chunk=chunk, images=images), render_winograd,
                             triple, stores)
