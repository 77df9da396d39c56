"""Index maps of the channel-blocked layout ops (ir/ops/blocked.py) and the test that a stage is a
to_blocked copy (what the LLVM backend's direct convolution writes itself: llvm/conv_rewrite.py)."""
from __future__ import annotations

from typing import Optional

from .context import Lazy
from .describe import Kernel, Stage
from .expr import both, clamp, const, iadd, iconst_op, imul, in_range, ivar, load, select, walk
from .index_math import simplify


def to_blocked_map(src: Lazy, in_shape: tuple[int, int, int, int], block: int, pad: tuple[int, int],
                   dtype: str) -> Lazy:
    """The lazy to_blocked of `src` (NCHW of `in_shape`): zero at the border and past the channels."""
    _, c, h, w = in_shape
    ph, pw = pad

    def lazy(idx):
        n, cb, y, x, lane = idx
        ch, iy, ix = iadd(imul(cb, const(block)), lane), iadd(y, const(-ph)), iadd(x, const(-pw))
        valid = both(both(in_range(ch, 0, c), in_range(iy, 0, h)), in_range(ix, 0, w))
        return select(valid, src((n, clamp(ch, c - 1), clamp(iy, h - 1), clamp(ix, w - 1))), const(0, dtype))
    return lazy


def from_blocked_map(src: Lazy, block: int, pad: tuple[int, int]) -> Lazy:
    """The lazy from_blocked of `src` (a blocked image): a crop, every read inside."""
    ph, pw = pad

    def lazy(idx):
        n, ch, y, x = idx
        return src((n, iconst_op("idiv", ch, block), iadd(y, const(ph)), iadd(x, const(pw)), iconst_op("mod", ch, block)))
    return lazy


def blocked_copy_source(k: Kernel, s: Stage) -> Optional[str]:
    """The NCHW buffer that stage `s` copies into the blocked layout (a to_blocked of a buffer), or None.
    Block and padding follow from the two shapes; the stage must be exactly the copy `to_blocked_map`
    builds (compared as simplified expressions)."""
    out = k.buffers[s.out]
    reads = {e.value for e in walk(s.expr) if e.op == "load"}
    if len(out.shape) != 5 or len(reads) != 1:
        return None
    src = k.buffers[next(iter(reads))]
    if len(src.shape) != 4 or src.dtype != out.dtype:
        return None
    n, cb, hp, wp, block = out.shape
    ph2, pw2 = hp - src.shape[2], wp - src.shape[3]
    if n != src.shape[0] or cb != -(-src.shape[1] // block) or ph2 % 2 or pw2 % 2 or ph2 < 0 or pw2 < 0:
        return None
    lazy = to_blocked_map(lambda idx: load(src, idx), src.shape, block, (ph2 // 2, pw2 // 2), out.dtype)
    expected = simplify(lazy(tuple(ivar(v) for v in s.vars)), k.extents)
    return src.name if expected.key() == s.expr.key() else None
