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
# A stable sort by the keys' bits, one byte per pass: no data-dependent branch (the merge's
# mispredicted comparison is what costs). Each element is first mapped to an unsigned key with
# NumPy's order (floats: sign-magnitude to two's order, -0.0 as +0.0, every NaN to the largest
# key so NaNs come last and keep their index order). Keys of up to 32 bits travel packed with
# their index in one i64 (key << 32 | index), so a pass streams one array; 64-bit keys are read
# again through the index (x[index]) each pass. One counting pass makes every byte's histogram;
# a pass whose byte is the same for all elements is skipped.
RADIX_MIN = 32


def _key_bits(dtype: str) -> int:
    """Width of the unsigned key: 64 for 64-bit dtypes, else 32 (f16/bf16 are compared as f32)."""
    return 64 if dtype in ("f64", "i64", "u64") else 32


def _passes(dtype: str) -> int:
    return {"bool": 1, "i8": 1, "u8": 1, "i16": 2, "u16": 2}.get(dtype, _key_bits(dtype) // 8)


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


def _digit_ir(dtype: str, packed: bool, e: str, p: int, d: str, s: str) -> str:
    """IR computing %{d} (i64), byte p of the key of element %{e} (a packed element or an index)."""
    if packed:
        return (f"  %{d}_sh{s} = lshr i64 %{e}, {32 + 8 * p}\n"
                f"  %{d} = and i64 %{d}_sh{s}, 255\n")
    ty = MEM[dtype]
    kt = f"i{_key_bits(dtype)}"
    return (f"  %{d}_px{s} = getelementptr inbounds {ty}, ptr %x, i64 %{e}\n"
            f"  %{d}_v{s} = load {ty}, ptr %{d}_px{s}\n"
            + _key_ir(dtype, f"{d}_v{s}", f"{d}_k{s}", f"{d}{s}") +
            f"  %{d}_sh{s} = lshr {kt} %{d}_k{s}, {8 * p}\n"
            f"  %{d}_b{s} = and {kt} %{d}_sh{s}, 255\n"
            + (f"  %{d} = zext {kt} %{d}_b{s} to i64\n" if kt != "i64" else f"  %{d} = add i64 %{d}_b{s}, 0\n"))


def radix_function(mod, dtype: str, packed: bool) -> str:
    """Define @hb_radix_<dtype>[_packed](x row, out row, scratch row, n >= 1) once; return its name."""
    name = f"hb_radix_{dtype}{'_packed' if packed else ''}"
    if name in mod.defined:
        return name
    mod.defined.add(name)
    mod.declares.add("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
    mod.declares.add("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")
    ty = MEM[dtype]
    passes = _passes(dtype)
    kt = f"i{_key_bits(dtype)}"
    h = f"[{passes} x [256 x i64]]"
    body = [f"""define internal void @{name}(ptr noalias %x, ptr noalias %out, ptr noalias %tmp, i64 %n) nounwind {{
entry:
  %hist = alloca {h}, align 64
  call void @llvm.memset.p0.i64(ptr %hist, i8 0, i64 {passes * 2048}, i1 false)
  br label %count
count:
  %i = phi i64 [ 0, %entry ], [ %i_next, %count ]
  %px = getelementptr inbounds {ty}, ptr %x, i64 %i
  %v = load {ty}, ptr %px
""" + _key_ir(dtype, "v", "key", "")]
    if packed:
        body.append(f"  %kw = zext {kt} %key to i64\n  %kh = shl i64 %kw, 32\n  %e = or i64 %kh, %i\n")
    else:
        body.append("  %e = add i64 %i, 0\n")
    body.append("  %pe = getelementptr inbounds i64, ptr %out, i64 %i\n  store i64 %e, ptr %pe\n")
    for p in range(passes):
        body.append(f"  %c{p}_sh = lshr {kt} %key, {8 * p}\n  %c{p}_b = and {kt} %c{p}_sh, 255\n"
                    + (f"  %c{p}_d = zext {kt} %c{p}_b to i64\n" if kt != "i64" else f"  %c{p}_d = add i64 %c{p}_b, 0\n")
                    + f"  %c{p}_p = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {p}, i64 %c{p}_d\n"
                    f"  %c{p}_v = load i64, ptr %c{p}_p\n  %c{p}_n = add nuw nsw i64 %c{p}_v, 1\n"
                    f"  store i64 %c{p}_n, ptr %c{p}_p\n")
    body.append("  %i_next = add nuw nsw i64 %i, 1\n  %more = icmp slt i64 %i_next, %n\n"
                "  br i1 %more, label %count, label %pass0\n")
    src, dst = "%out", "%tmp"
    for p in range(passes):
        body.append(f"""pass{p}:
  %f{p}_e = load i64, ptr {src}
""" + _digit_ir(dtype, packed, f"f{p}_e", p, f"f{p}_d", f".f{p}") + f"""  %f{p}_p = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {p}, i64 %f{p}_d
  %f{p}_c = load i64, ptr %f{p}_p
  %same{p} = icmp eq i64 %f{p}_c, %n
  br i1 %same{p}, label %next{p}, label %prefix{p}
prefix{p}:
  %b{p} = phi i64 [ 0, %pass{p} ], [ %b{p}_next, %prefix{p} ]
  %sum{p} = phi i64 [ 0, %pass{p} ], [ %sum{p}_next, %prefix{p} ]
  %hp{p} = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {p}, i64 %b{p}
  %hv{p} = load i64, ptr %hp{p}
  store i64 %sum{p}, ptr %hp{p}
  %sum{p}_next = add nuw nsw i64 %sum{p}, %hv{p}
  %b{p}_next = add nuw nsw i64 %b{p}, 1
  %b{p}_more = icmp slt i64 %b{p}_next, 256
  br i1 %b{p}_more, label %prefix{p}, label %scatter{p}
scatter{p}:
  %j{p} = phi i64 [ 0, %prefix{p} ], [ %j{p}_next, %scatter{p} ]
  %sp{p} = getelementptr inbounds i64, ptr {src}, i64 %j{p}
  %se{p} = load i64, ptr %sp{p}
""" + _digit_ir(dtype, packed, f"se{p}", p, f"sd{p}", f".s{p}") + f"""  %sh{p} = getelementptr inbounds {h}, ptr %hist, i64 0, i64 {p}, i64 %sd{p}
  %pos{p} = load i64, ptr %sh{p}
  %pos{p}_next = add nuw nsw i64 %pos{p}, 1
  store i64 %pos{p}_next, ptr %sh{p}
  %dp{p} = getelementptr inbounds i64, ptr {dst}, i64 %pos{p}
  store i64 %se{p}, ptr %dp{p}
  %j{p}_next = add nuw nsw i64 %j{p}, 1
  %j{p}_more = icmp slt i64 %j{p}_next, %n
  br i1 %j{p}_more, label %scatter{p}, label %next{p}
next{p}:
  %src{p} = phi ptr [ {src}, %pass{p} ], [ {dst}, %scatter{p} ]
  %dst{p} = phi ptr [ {dst}, %pass{p} ], [ {src}, %scatter{p} ]
  br label %{"pass" + str(p + 1) if p + 1 < passes else "finish"}
""")
        src, dst = f"%src{p}", f"%dst{p}"
    if packed:        # the indices are the low halves: written into out (in place when src is out)
        body.append(f"""finish:
  %o = phi i64 [ 0, %next{passes - 1} ], [ %o_next, %finish ]
  %op = getelementptr inbounds i64, ptr {src}, i64 %o
  %oe = load i64, ptr %op
  %oi = and i64 %oe, 4294967295
  %oq = getelementptr inbounds i64, ptr %out, i64 %o
  store i64 %oi, ptr %oq
  %o_next = add nuw nsw i64 %o, 1
  %o_more = icmp slt i64 %o_next, %n
  br i1 %o_more, label %finish, label %exit
""")
    else:
        body.append(f"""finish:
  %in_out = icmp eq ptr {src}, %out
  br i1 %in_out, label %exit, label %copy
copy:
  %bytes = shl nuw nsw i64 %n, 3
  call void @llvm.memcpy.p0.p0.i64(ptr %out, ptr {src}, i64 %bytes, i1 false)
  br label %exit
""")
    body.append("exit:\n  ret void\n}\n")
    mod.functions.append("".join(body))
    return name


def render_sort(fn: Fn, mod, k: Kernel, stage: SortStage, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Call the dtype's argsort function on rows [lo, hi) of the stage: a radix sort for rows of
    RADIX_MIN elements or more, else the merge sort."""
    if stage.n >= RADIX_MIN:
        name = radix_function(mod, stage.dtype, packed=_key_bits(stage.dtype) == 32 and stage.n < (1 << 32))
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
