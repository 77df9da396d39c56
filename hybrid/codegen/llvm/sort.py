"""A SortStage as LLVM IR: one stable argsort function per element dtype, defined once per module
(@hb_argsort_<dtype>(x row, out row, scratch row, n)), called for each row of the thread's share.

The function is a bottom-up merge sort of the index array: out = 0..n-1, then passes of width
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


def render_sort(fn: Fn, mod, k: Kernel, stage: SortStage, ptrs: dict[str, str], lo: str, hi: str) -> None:
    """Call the dtype's argsort function on rows [lo, hi) of the stage."""
    name = argsort_function(mod, stage.dtype)
    ty = MEM[stage.dtype]
    loop = fn.begin_loop(lo, hi)
    start = fn.op(f"mul nsw i64 {loop.index}, {stage.n}")
    x = fn.op(f"getelementptr inbounds {ty}, ptr {ptrs[stage.src]}, i64 {start}")
    out = fn.op(f"getelementptr inbounds i64, ptr {ptrs[stage.out]}, i64 {start}")
    tmp = fn.op(f"getelementptr inbounds i64, ptr {ptrs[stage.scratch]}, i64 {start}")
    fn.do(f"call void @{name}(ptr {x}, ptr {out}, ptr {tmp}, i64 {stage.n})")
    fn.end_loop(loop)
