"""A SortStage as LLVM IR: one stable argsort function per element dtype, defined once per module
(@hb_argsort_<dtype>(x row, out row, scratch row, n)), called for each row of the thread's share.
Rows of RADIX_MIN elements or more use an LSD radix sort instead (@hb_radix_<dtype>, below).

The merge function is a bottom-up merge sort of the index array: out = 0..n-1, then passes of width
1, 2, 4, ... merge neighbouring runs between out and the scratch row (ping-pong), comparing the
values the indices point at. A merge takes from the right run only when its value is strictly
less, so equal keys keep their index order (stable: NumPy's kind="stable", also a valid default
order). Less-than is NumPy's: NaN after every number, NaNs equal to each other, -0.0 == +0.0."""
from __future__ import annotations

import math

from ..kernel import Kernel, SortStage
from .emit import MEM, SIGNED, Fn, is_float

# compares per element below which a sort runs on thread 0 alone (a merge step is ~10 instructions)
SORT_PARALLEL_MIN = 1 << 15


def sort_parallel(stage: SortStage) -> bool:
    return stage.rows > 1 and stage.rows * stage.n * max(1, math.ceil(math.log2(max(stage.n, 2)))) >= SORT_PARALLEL_MIN


def _less(dtype: str) -> str:
    """IR computing i1 %right_less = x[%ij] < x[%ii] (NumPy's order) from values %b (right), %a (left)."""
    if is_float(dtype):
        ty, a, b, ext = MEM[dtype], "%a0", "%b0", ""
        if dtype in ("f16", "bf16"):     # compare in f32: exact for both
            ext = f"  %a = fpext {ty} %a0 to float\n  %b = fpext {ty} %b0 to float\n"
            ty, a, b = "float", "%a", "%b"
        return (ext +
                f"  %a_nan = fcmp uno {ty} {a}, {a}\n  %b_nan = fcmp uno {ty} {b}, {b}\n"
                f"  %b_lt = fcmp olt {ty} {b}, {a}\n  %b_num = xor i1 %b_nan, true\n"
                f"  %a_nan_or_lt = or i1 %a_nan, %b_lt\n  %right_less = and i1 %b_num, %a_nan_or_lt\n")
    pred = "slt" if dtype in SIGNED else "ult"
    return f"  %right_less = icmp {pred} {MEM[dtype]} %b0, %a0\n"


def argsort_function(mod, dtype: str) -> str:
    """Define @hb_argsort_<dtype> in `mod` (once) and return its name."""
    name = f"hb_argsort_{dtype}"
    if name in mod.defined:
        return name
    mod.defined.add(name)
    mod.declares.add("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")
    ty = MEM[dtype]
    mod.functions.append(f"""define internal void @{name}(ptr noalias %x, ptr noalias %out, ptr noalias %tmp, i64 %n) nounwind {{
entry:
  %nonempty = icmp sgt i64 %n, 0
  br i1 %nonempty, label %init, label %exit
init:
  %i0 = phi i64 [ 0, %entry ], [ %i0n, %init ]
  %p0 = getelementptr inbounds i64, ptr %out, i64 %i0
  store i64 %i0, ptr %p0
  %i0n = add nuw nsw i64 %i0, 1
  %more0 = icmp slt i64 %i0n, %n
  br i1 %more0, label %init, label %passes
passes:
  %w = phi i64 [ 1, %init ], [ %w2, %pass_end ]
  %src = phi ptr [ %out, %init ], [ %dst, %pass_end ]
  %dst = phi ptr [ %tmp, %init ], [ %src, %pass_end ]
  %go = icmp slt i64 %w, %n
  br i1 %go, label %pass, label %finish
pass:
  %w2 = shl nuw nsw i64 %w, 1
  br label %block
block:
  %lo = phi i64 [ 0, %pass ], [ %hi, %block_end ]
  %m0 = add nsw i64 %lo, %w
  %m_in = icmp slt i64 %m0, %n
  %mid = select i1 %m_in, i64 %m0, i64 %n
  %h0 = add nsw i64 %lo, %w2
  %h_in = icmp slt i64 %h0, %n
  %hi = select i1 %h_in, i64 %h0, i64 %n
  br label %merge
merge:
  %i = phi i64 [ %lo, %block ], [ %i_next, %step ]
  %j = phi i64 [ %mid, %block ], [ %j_next, %step ]
  %k = phi i64 [ %lo, %block ], [ %k_next, %step ]
  %k_in = icmp slt i64 %k, %hi
  br i1 %k_in, label %pick, label %block_end
pick:
  %j_done = icmp sge i64 %j, %hi
  br i1 %j_done, label %left, label %check_i
check_i:
  %i_done = icmp sge i64 %i, %mid
  br i1 %i_done, label %right, label %compare
compare:
  %pi = getelementptr inbounds i64, ptr %src, i64 %i
  %ii = load i64, ptr %pi
  %pj = getelementptr inbounds i64, ptr %src, i64 %j
  %ij = load i64, ptr %pj
  %pa = getelementptr inbounds {ty}, ptr %x, i64 %ii
  %a0 = load {ty}, ptr %pa
  %pb = getelementptr inbounds {ty}, ptr %x, i64 %ij
  %b0 = load {ty}, ptr %pb
{_less(dtype)}  br i1 %right_less, label %right, label %left
left:
  %pl = getelementptr inbounds i64, ptr %src, i64 %i
  %vl = load i64, ptr %pl
  %kl = getelementptr inbounds i64, ptr %dst, i64 %k
  store i64 %vl, ptr %kl
  %i1 = add nuw nsw i64 %i, 1
  br label %step
right:
  %pr = getelementptr inbounds i64, ptr %src, i64 %j
  %vr = load i64, ptr %pr
  %kr = getelementptr inbounds i64, ptr %dst, i64 %k
  store i64 %vr, ptr %kr
  %j1 = add nuw nsw i64 %j, 1
  br label %step
step:
  %i_next = phi i64 [ %i1, %left ], [ %i, %right ]
  %j_next = phi i64 [ %j, %left ], [ %j1, %right ]
  %k_next = add nuw nsw i64 %k, 1
  br label %merge
block_end:
  %blocks_left = icmp slt i64 %hi, %n
  br i1 %blocks_left, label %block, label %pass_end
pass_end:
  br label %passes
finish:
  %in_out = icmp eq ptr %src, %out
  br i1 %in_out, label %exit, label %copy
copy:
  %bytes = shl nuw nsw i64 %n, 3
  call void @llvm.memcpy.p0.p0.i64(ptr %out, ptr %src, i64 %bytes, i1 false)
  br label %exit
exit:
  ret void
}}
""")
    return name


# -- LSD radix sort (rows of RADIX_MIN elements or more) -----------------------------------------
# A stable sort by the keys' bits: no data-dependent branch (the merge's mispredicted comparison is
# what costs). Each element is first mapped to an unsigned key with NumPy's order (floats:
# sign-magnitude to two's order, -0.0 as +0.0, every NaN to the largest key so NaNs come last and
# keep their index order). The sort streams i64 elements (32-bit key half << 32 | index): a 32-bit
# key sorts in 4 passes of 8-bit digits, or in rows of WIDE_MIN elements or more in 3 passes of
# 11-bit digits (2048 buckets, 16 KiB of counts: L1; each pass also sums its buckets, which short
# rows cannot repay), 16- and 8-bit keys in passes of 8 bits. A 64-bit key sorts by its low half, then each element is repacked with the
# high half of its key (one gather x[index]) and sorted by that: 6 streaming passes, no per-pass
# gather. One counting pass makes every digit's histogram (counts do not depend on the order); a
# pass whose digit is the same for all elements is skipped.
RADIX_MIN = 32
PACKED_MAX = 1 << 32     # the index fits the low half of an element below this row length
# 3 passes over 2048 buckets cost 6144 + 3n, 4 over 256 cost 1024 + 4n: equal at n = 5120
WIDE_MIN = 1 << 13


def _key_bits(dtype: str) -> int:
    """Width of the unsigned key: 64 for 64-bit dtypes, else 32 (f16/bf16 are compared as f32)."""
    return 64 if dtype in ("f64", "i64", "u64") else 32


def _digits(dtype: str, wide: bool) -> list[tuple[int, int, int]]:
    """The passes in order, each (half of the key, bit offset in that half, digit width); `wide`:
    11-bit digits for 32-bit halves."""
    bits = {"bool": 8, "i8": 8, "u8": 8, "i16": 16, "u16": 16}.get(dtype, 32)
    half = [(0, 11), (11, 11), (22, 10)] if bits == 32 and wide else [(off, 8) for off in range(0, bits, 8)]
    return [(h, off, width) for h in range(_key_bits(dtype) // 32) for off, width in half]


def _key_ir(dtype: str, v: str, key: str, s: str) -> str:
    """IR lines computing the unsigned key %{key} (i32/i64) of the loaded element %{v}."""
    kb = _key_bits(dtype)
    kt = f"i{kb}"
    sign = -(1 << (kb - 1))
    if is_float(dtype):
        ft = MEM[dtype]
        lines = ""
        if dtype in ("f16", "bf16"):
            lines += f"  %{v}_f{s} = fpext {ft} %{v} to float\n"
            v, ft = f"{v}_f{s}", "float"
        return lines + (
            f"  %kb{s} = bitcast {ft} %{v} to {kt}\n"
            f"  %kzero{s} = fcmp oeq {ft} %{v}, 0.0\n"
            f"  %knan{s} = fcmp uno {ft} %{v}, %{v}\n"
            f"  %kneg{s} = icmp slt {kt} %kb{s}, 0\n"
            f"  %kinv{s} = xor {kt} %kb{s}, -1\n"
            f"  %kpos{s} = or {kt} %kb{s}, {sign}\n"
            f"  %kmag{s} = select i1 %kneg{s}, {kt} %kinv{s}, {kt} %kpos{s}\n"
            f"  %kz{s} = select i1 %kzero{s}, {kt} {sign}, {kt} %kmag{s}\n"
            f"  %{key} = select i1 %knan{s}, {kt} -1, {kt} %kz{s}\n")
    it = MEM[dtype]
    width = {"i8": 8, "i16": 16, "i32": 32, "i64": 64}[it]
    lines, src = "", v
    if dtype in SIGNED:
        lines += f"  %kflip{s} = xor {it} %{v}, {-(1 << (width - 1))}\n"
        src = f"kflip{s}"
    if width == kb:
        return lines + f"  %{key} = add {kt} %{src}, 0\n"
    return lines + f"  %{key} = zext {it} %{src} to {kt}\n"


def _packed_ir(key: str, kt: str, half: int, index: str, out: str, s: str) -> str:
    """IR computing %{out} = (half `half` of the key %{key}) << 32 | %{index}."""
    if kt == "i32":
        top = f"  %{s}_w = zext i32 %{key} to i64\n"
    elif half == 0:
        top = f"  %{s}_t = trunc i64 %{key} to i32\n  %{s}_w = zext i32 %{s}_t to i64\n"
    else:
        top = f"  %{s}_w = lshr i64 %{key}, 32\n"
    return top + f"  %{s}_h = shl i64 %{s}_w, 32\n  %{out} = or i64 %{s}_h, %{index}\n"


def _digit_ir(e: str, off: int, width: int, d: str) -> str:
    """IR computing %{d} (i64), the digit at bit `off` (width `width`) of the key half packed in %{e}."""
    return f"  %{d}_sh = lshr i64 %{e}, {32 + off}\n  %{d} = and i64 %{d}_sh, {(1 << width) - 1}\n"


def radix_function(mod, dtype: str, wide: bool) -> str:
    """Define @hb_radix_<dtype>[_wide](x row, out row, scratch row, 1 <= n < PACKED_MAX) once (`wide`:
    11-bit digits); return its name."""
    name = f"hb_radix_{dtype}{'_wide' if wide else ''}"
    if name in mod.defined:
        return name
    mod.defined.add(name)
    mod.declares.add("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
    ty = MEM[dtype]
    digits = _digits(dtype, wide)
    kt = f"i{_key_bits(dtype)}"
    buckets = 1 << max(width for _, _, width in digits)
    h = f"[{len(digits)} x [{buckets} x i64]]"
    body = [f"""define internal void @{name}(ptr noalias %x, ptr noalias %out, ptr noalias %tmp, i64 %n) nounwind {{
entry:
  %hist = alloca {h}, align 64
  call void @llvm.memset.p0.i64(ptr %hist, i8 0, i64 {len(digits) * buckets * 8}, i1 false)
  br label %count
count:
  %i = phi i64 [ 0, %entry ], [ %i_next, %count ]
  %px = getelementptr inbounds {ty}, ptr %x, i64 %i
  %v = load {ty}, ptr %px
""" + _key_ir(dtype, "v", "key", "") + _packed_ir("key", kt, 0, "i", "e", "pk")
        + "  %pe = getelementptr inbounds i64, ptr %out, i64 %i\n  store i64 %e, ptr %pe\n"]
    for g, (half, off, width) in enumerate(digits):
        body.append(f"  %c{g}_sh = lshr {kt} %key, {32 * half + off}\n  %c{g}_b = and {kt} %c{g}_sh, {(1 << width) - 1}\n"
                    + (f"  %c{g}_d = zext {kt} %c{g}_b to i64\n" if kt != "i64" else f"  %c{g}_d = add i64 %c{g}_b, 0\n")
                    + f"  %c{g}_p = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {g}, i64 %c{g}_d\n"
                    f"  %c{g}_v = load i64, ptr %c{g}_p\n  %c{g}_n = add nuw nsw i64 %c{g}_v, 1\n"
                    f"  store i64 %c{g}_n, ptr %c{g}_p\n")
    body.append("  %i_next = add nuw nsw i64 %i, 1\n  %more = icmp slt i64 %i_next, %n\n"
                "  br i1 %more, label %count, label %pass0\n")
    src, dst = "%out", "%tmp"
    for g, (half, off, width) in enumerate(digits):
        if half and not off:      # the low half is sorted: repack with the high half of the key
            body.append(f"""pass{g}:
  br label %repack
repack:
  %r = phi i64 [ 0, %pass{g} ], [ %r_next, %repack ]
  %rp = getelementptr inbounds i64, ptr {src}, i64 %r
  %re = load i64, ptr %rp
  %ri = and i64 %re, 4294967295
  %rx = getelementptr inbounds {ty}, ptr %x, i64 %ri
  %rv = load {ty}, ptr %rx
""" + _key_ir(dtype, "rv", "rkey", ".r") + _packed_ir("rkey", kt, 1, "ri", "rn", "rk") + f"""  store i64 %rn, ptr %rp
  %r_next = add nuw nsw i64 %r, 1
  %r_more = icmp slt i64 %r_next, %n
  br i1 %r_more, label %repack, label %digit{g}
""")
        else:
            body.append(f"pass{g}:\n  br label %digit{g}\n")
        body.append(f"""digit{g}:
  %f{g}_e = load i64, ptr {src}
""" + _digit_ir(f"f{g}_e", off, width, f"f{g}_d") + f"""  %f{g}_p = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {g}, i64 %f{g}_d
  %f{g}_c = load i64, ptr %f{g}_p
  %same{g} = icmp eq i64 %f{g}_c, %n
  br i1 %same{g}, label %next{g}, label %prefix{g}
prefix{g}:
  %b{g} = phi i64 [ 0, %digit{g} ], [ %b{g}_next, %prefix{g} ]
  %sum{g} = phi i64 [ 0, %digit{g} ], [ %sum{g}_next, %prefix{g} ]
  %hp{g} = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {g}, i64 %b{g}
  %hv{g} = load i64, ptr %hp{g}
  store i64 %sum{g}, ptr %hp{g}
  %sum{g}_next = add nuw nsw i64 %sum{g}, %hv{g}
  %b{g}_next = add nuw nsw i64 %b{g}, 1
  %b{g}_more = icmp slt i64 %b{g}_next, {1 << width}
  br i1 %b{g}_more, label %prefix{g}, label %scatter{g}
scatter{g}:
  %j{g} = phi i64 [ 0, %prefix{g} ], [ %j{g}_next, %scatter{g} ]
  %sp{g} = getelementptr inbounds i64, ptr {src}, i64 %j{g}
  %se{g} = load i64, ptr %sp{g}
""" + _digit_ir(f"se{g}", off, width, f"sd{g}") + f"""  %sh{g} = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {g}, i64 %sd{g}
  %pos{g} = load i64, ptr %sh{g}
  %pos{g}_next = add nuw nsw i64 %pos{g}, 1
  store i64 %pos{g}_next, ptr %sh{g}
  %dp{g} = getelementptr inbounds i64, ptr {dst}, i64 %pos{g}
  store i64 %se{g}, ptr %dp{g}
  %j{g}_next = add nuw nsw i64 %j{g}, 1
  %j{g}_more = icmp slt i64 %j{g}_next, %n
  br i1 %j{g}_more, label %scatter{g}, label %next{g}
next{g}:
  %src{g} = phi ptr [ {src}, %digit{g} ], [ {dst}, %scatter{g} ]
  %dst{g} = phi ptr [ {dst}, %digit{g} ], [ {src}, %scatter{g} ]
  br label %{"pass" + str(g + 1) if g + 1 < len(digits) else "finish"}
""")
        src, dst = f"%src{g}", f"%dst{g}"
    # the indices are the low halves: written into out (in place when src is out)
    body.append(f"""finish:
  %o = phi i64 [ 0, %next{len(digits) - 1} ], [ %o_next, %finish ]
  %op = getelementptr inbounds i64, ptr {src}, i64 %o
  %oe = load i64, ptr %op
  %oi = and i64 %oe, 4294967295
  %oq = getelementptr inbounds i64, ptr %out, i64 %o
  store i64 %oi, ptr %oq
  %o_next = add nuw nsw i64 %o, 1
  %o_more = icmp slt i64 %o_next, %n
  br i1 %o_more, label %finish, label %exit
exit:
  ret void
}}
""")
    mod.functions.append("".join(body))
    return name


def render_sort(fn: Fn, mod, k: Kernel, stage: SortStage, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Call the dtype's argsort function on rows [lo, hi) of the stage: a radix sort for rows of
    RADIX_MIN up to PACKED_MAX elements, else the merge sort."""
    if RADIX_MIN <= stage.n < PACKED_MAX:
        name = radix_function(mod, stage.dtype, stage.n >= WIDE_MIN)
    else:
        name = argsort_function(mod, stage.dtype)
    ty = MEM[stage.dtype]
    loop = fn.begin_loop(lo, hi)
    start = fn.op(f"mul nsw i64 {loop.index}, {stage.n}")
    x = fn.op(f"getelementptr inbounds {ty}, ptr {ptrs[stage.src]}, i64 {start}")
    out = fn.op(f"getelementptr inbounds i64, ptr {ptrs[stage.out]}, i64 {start}")
    tmp = fn.op(f"getelementptr inbounds i64, ptr {ptrs[stage.scratch]}, i64 {start}")
    fn.do(f"call void @{name}(ptr {x}, ptr {out}, ptr {tmp}, i64 {stage.n})")
    fn.end_loop(loop)
