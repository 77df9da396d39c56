"""Runtime support functions emitted into every module: the thread barrier, integer pow,
and a plain (row-split, vectorizable) hybrid_sgemm used when gemm.py provides none."""
from __future__ import annotations

from .emit import REG, Fn


def barrier_ir(x86: bool) -> str:
    """hb_barrier(ptr bar, i32 nt): sense-by-generation spin barrier; bar = {count, generation}.
    Spins with `pause`, then yields the core, so an oversubscribed machine still progresses."""
    pause = "call void @llvm.x86.sse2.pause()" if x86 else "fence seq_cst"
    decl = "declare void @llvm.x86.sse2.pause()\n" if x86 else ""
    return decl + f"""declare i32 @sched_yield()
define internal void @hb_barrier(ptr %bar, i32 %nt) nounwind {{
entry:
  %one = icmp sle i32 %nt, 1
  br i1 %one, label %out, label %go
go:
  %genp = getelementptr i32, ptr %bar, i64 1
  %gen = load atomic i32, ptr %genp acquire, align 4
  %old = atomicrmw add ptr %bar, i32 1 acq_rel
  %arrived = add i32 %old, 1
  %last = icmp eq i32 %arrived, %nt
  br i1 %last, label %release, label %spin
release:
  store atomic i32 0, ptr %bar monotonic, align 4
  %ignored = atomicrmw add ptr %genp, i32 1 release
  br label %out
spin:
  %k = phi i32 [ 0, %go ], [ %k1, %cont ]
  %g = load atomic i32, ptr %genp acquire, align 4
  %moved = icmp ne i32 %g, %gen
  br i1 %moved, label %out, label %wait
wait:
  %k1 = add i32 %k, 1
  %long = icmp ugt i32 %k1, 256
  br i1 %long, label %yield, label %pause
pause:
  {pause}
  br label %cont
yield:
  %y = call i32 @sched_yield()
  br label %cont
cont:
  br label %spin
out:
  ret void
}}
"""


def ipow_ir(dtype: str) -> str:
    """Integer power by squaring; negative exponents give 0 except for bases 1 and -1 (NumPy
    raises there; compiled code cannot, so it returns the exact value where one exists)."""
    ty = REG[dtype]
    signed = dtype in ("i8", "i32", "i64")
    fn = Fn(f"define internal {ty} @hb_ipow_{dtype}({ty} %a, {ty} %b) nounwind")
    neg = fn.op(f"icmp slt {ty} %b, 0") if signed else "false"
    head, body, done = fn.label("head"), fn.label("body"), fn.label("done")
    fn.br(head)
    fn.start(head)
    r, base, e = fn.tmp(), fn.tmp(), fn.tmp()
    slot = len(fn.lines)
    fn.lines.append("")
    more = fn.op(f"icmp {'sgt' if signed else 'ugt'} {ty} {e}, 0")
    fn.do(f"br i1 {more}, label %{body}, label %{done}")
    fn.start(body)
    bit = fn.op(f"and {ty} {e}, 1")
    odd = fn.op(f"icmp ne {ty} {bit}, 0")
    m = fn.op(f"mul {ty} {r}, {base}")
    r2 = fn.op(f"select i1 {odd}, {ty} {m}, {ty} {r}")
    b2 = fn.op(f"mul {ty} {base}, {base}")
    e2 = fn.op(f"{'ashr' if signed else 'lshr'} {ty} {e}, 1")
    fn.br(head)
    fn.lines[slot] = (f"  {r} = phi {ty} [ 1, %entry ], [ {r2}, %{body} ]\n"
                      f"  {base} = phi {ty} [ %a, %entry ], [ {b2}, %{body} ]\n"
                      f"  {e} = phi {ty} [ %b, %entry ], [ {e2}, %{body} ]")
    fn.start(done)
    if signed:
        one = fn.op(f"icmp eq {ty} %a, 1")
        m1 = fn.op(f"icmp eq {ty} %a, -1")
        bo = fn.op(f"and {ty} %b, 1")
        oddb = fn.op(f"icmp ne {ty} {bo}, 0")
        negv = fn.op(f"select i1 {oddb}, {ty} -1, {ty} 1")
        inv = fn.op(f"select i1 {m1}, {ty} {negv}, {ty} 0")
        inv = fn.op(f"select i1 {one}, {ty} 1, {ty} {inv}")
        res = fn.op(f"select i1 {neg}, {ty} {inv}, {ty} {r}")
    else:
        res = r
    fn.do(f"ret {ty} {res}")
    return fn.text()


def fallback_sgemm_ir() -> str:
    """hybrid_sgemm (the GEMM contract) as simple loops: rows split by thread; for each row
    C[i,:] = sum_k A(i,k) B[k,:] (unit-stride over j, vectorized) or, with B transposed,
    dot products over k. The epilogue runs on each finished row."""
    fn = Fn("define void @hybrid_sgemm(i64 %M, i64 %N, i64 %K, ptr %A, i64 %lda, i32 %ta, ptr %B, i64 %ldb, "
            "i32 %tb, ptr %C, i64 %ldc, ptr %epi, ptr %ctx, i32 %tid, i32 %nt) nounwind")
    tid = fn.op("sext i32 %tid to i64")
    nt = fn.op("sext i32 %nt to i64")
    lo = fn.op(f"mul i64 {tid}, %M")
    lo = fn.op(f"sdiv i64 {lo}, {nt}")
    t1 = fn.op(f"add i64 {tid}, 1")
    hi = fn.op(f"mul i64 {t1}, %M")
    hi = fn.op(f"sdiv i64 {hi}, {nt}")
    transa = fn.op("icmp ne i32 %ta, 0")
    transb = fn.op("icmp ne i32 %tb, 0")
    rows = fn.begin_loop(lo, hi)
    i = rows.index
    crow_off = fn.op(f"mul i64 {i}, %ldc")
    crow = fn.op(f"getelementptr inbounds float, ptr %C, i64 {crow_off}")

    def a_elem(k):
        o1 = fn.op(f"mul i64 {k}, %lda")
        o1 = fn.op(f"add i64 {o1}, {i}")
        o2 = fn.op(f"mul i64 {i}, %lda")
        o2 = fn.op(f"add i64 {o2}, {k}")
        o = fn.op(f"select i1 {transa}, i64 {o1}, i64 {o2}")
        p = fn.op(f"getelementptr inbounds float, ptr %A, i64 {o}")
        return fn.op(f"load float, ptr {p}")

    axpy, dot, tail = fn.label("axpy"), fn.label("dot"), fn.label("row_done")
    fn.do(f"br i1 {transb}, label %{dot}, label %{axpy}")
    # C[i, :] = 0; for k: C[i, :] += A(i,k) * B[k, :]
    fn.start(axpy)
    z = fn.begin_loop("0", "%N")
    p = fn.op(f"getelementptr inbounds float, ptr {crow}, i64 {z.index}")
    fn.do(f"store float 0.0, ptr {p}")
    fn.end_loop(z)
    kl = fn.begin_loop("0", "%K")
    a = a_elem(kl.index)
    boff = fn.op(f"mul i64 {kl.index}, %ldb")
    brow = fn.op(f"getelementptr inbounds float, ptr %B, i64 {boff}")
    jl = fn.begin_loop("0", "%N")
    pc = fn.op(f"getelementptr inbounds float, ptr {crow}, i64 {jl.index}")
    pb = fn.op(f"getelementptr inbounds float, ptr {brow}, i64 {jl.index}")
    cv = fn.op(f"load float, ptr {pc}")
    bv = fn.op(f"load float, ptr {pb}")
    nv = fn.op(f"call float @llvm.fmuladd.f32(float {a}, float {bv}, float {cv})")
    fn.do(f"store float {nv}, ptr {pc}")
    fn.end_loop(jl)
    fn.end_loop(kl)
    fn.br(tail)
    # C[i, j] = dot(A(i, :), B[j, :])
    fn.start(dot)
    jl = fn.begin_loop("0", "%N")
    boff = fn.op(f"mul i64 {jl.index}, %ldb")
    brow = fn.op(f"getelementptr inbounds float, ptr %B, i64 {boff}")
    kl = fn.begin_loop("0", "%K", [("float", "0.0")])
    a = a_elem(kl.index)
    pb = fn.op(f"getelementptr inbounds float, ptr {brow}, i64 {kl.index}")
    bv = fn.op(f"load float, ptr {pb}")
    prod = fn.op(f"fmul reassoc nsz float {a}, {bv}")
    acc = fn.op(f"fadd reassoc nsz float {kl.carried[0]}, {prod}")
    total = fn.end_loop(kl, [acc])[0]
    pc = fn.op(f"getelementptr inbounds float, ptr {crow}, i64 {jl.index}")
    fn.do(f"store float {total}, ptr {pc}")
    fn.end_loop(jl)
    fn.br(tail)
    fn.start(tail)
    has = fn.op("icmp ne ptr %epi, null")
    call, nxt = fn.label("epi"), fn.label("next")
    fn.do(f"br i1 {has}, label %{call}, label %{nxt}")
    fn.start(call)
    i1 = fn.op(f"add i64 {i}, 1")
    fn.do(f"call void %epi(i64 {i}, i64 {i1}, i64 0, i64 %N, ptr %C, i64 %ldc, ptr %ctx)")
    fn.br(nxt)
    fn.start(nxt)
    fn.end_loop(rows)
    fn.do("ret void")
    return "declare float @llvm.fmuladd.f32(float, float, float)\n" + fn.text()
