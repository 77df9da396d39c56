"""Runtime support functions: the thread barrier, integer pow and the float -> bfloat16 rounding LLVM may
call. Integer pow is emitted into the modules that use it; the barrier and the rounding into every AOT
library's module, while the JIT compiles them once (runtime_ir, its own small module, cached) and links that
object beside each graph's: in every tiny module they had cost LLVM about 40% of its compile time."""
from __future__ import annotations

from .emit import REG, Fn

with open(__file__, "rb") as _source:   # as imported: part of the sgemm objects' cache key (see gemm.SOURCE_TEXT)
    SOURCE_TEXT = _source.read()

BARRIER_DECLARATION = "declare void @hb_barrier(ptr, i32)"
SPINS = 256        # pauses before a waiting thread starts yielding its core
YIELDS = 32        # yields before it sleeps on a futex (the releaser wakes sleepers only when there are any)
BARRIER_BYTES = 24  # {arrived i32, generation i32, (8 bytes the caller may use), sleepers i32, sleeps i32}
_FUTEX = {"x86_64": 202, "aarch64": 98}   # SYS_futex; elsewhere waiters keep yielding


def barrier_ir(triple: str, linkage: str = "internal") -> str:
    """hb_barrier(ptr bar, i32 nt): sense-by-generation barrier; bar = {arrived, generation}, the
    number of sleepers now at byte 16 and the number of times a waiter went to sleep at byte 20 (so a
    test or a profile can see that waiting threads sleep, without sampling the sleepers word). The last
    thread to arrive starts the next generation (hb_next_generation); the others wait for it
    (hb_wait_generation, SPINS pauses first). Both helpers are internal to the module; team.py's thread
    team waits between calls on a block laid out the same way."""
    return generation_ir(triple) + f"""define {linkage} void @hb_barrier(ptr %bar, i32 %nt) nounwind {{
entry:
  %one = icmp sle i32 %nt, 1
  br i1 %one, label %out, label %go
go:
  %genp = getelementptr i32, ptr %bar, i64 1
  %gen = load atomic i32, ptr %genp acquire, align 4
  %old = atomicrmw add ptr %bar, i32 1 acq_rel
  %arrived = add i32 %old, 1
  %last = icmp eq i32 %arrived, %nt
  br i1 %last, label %release, label %wait
release:
  store atomic i32 0, ptr %bar monotonic, align 4
  call void @hb_next_generation(ptr %bar)
  br label %out
wait:
  %g = call i32 @hb_wait_generation(ptr %bar, i32 %gen, i32 {SPINS})
  br label %out
out:
  ret void
}}
"""


def _is_x86(triple: str) -> bool:
    return triple.split("-")[0] in ("x86_64", "i686", "i386")


def pause_instruction(triple: str) -> str:
    """One step of a spin-wait: x86's `pause` (declared by generation_ir), elsewhere a fence."""
    return "call void @llvm.x86.sse2.pause()" if _is_x86(triple) else "fence seq_cst"


def generation_ir(triple: str) -> str:
    """Two internal functions on a block laid out as the barrier's (generation i32 at byte 4, sleepers at
    16, sleeps at 20):
    - hb_wait_generation(ptr block, i32 seen, i32 spins) -> i32: waits until the generation is no longer
      `seen` and returns it. It spins `spins` times with `pause`, then yields its core YIELDS times, then
      sleeps on a futex on the generation word (Linux), so a thread kept waiting while another runs a long
      single-threaded stage, or while the host is oversubscribed, stops using a core.
    - hb_next_generation(ptr block): bumps the generation and wakes the sleepers, if any. A sleeper counts
      itself before it rereads the generation and the bump comes before the count is read (both
      sequentially consistent), so one of them sees the other; a woken sleeper takes itself off the
      count when it runs again."""
    arch = triple.split("-")[0]
    pause = pause_instruction(triple)
    decl = "declare void @llvm.x86.sse2.pause()\n" if _is_x86(triple) else ""
    futex = _FUTEX.get(arch)
    if futex is None:
        sleep = "  br label %yield"
        wake = "  br label %out"
    else:
        decl += "declare i64 @syscall(i64, ...)\n"
        sleep = f"""  %sleepers = getelementptr i8, ptr %block, i64 16
  %s0 = atomicrmw add ptr %sleepers, i32 1 seq_cst
  %sleepsp = getelementptr i8, ptr %block, i64 20
  %n0 = atomicrmw add ptr %sleepsp, i32 1 monotonic
  %g2 = load atomic i32, ptr %genp seq_cst, align 4
  %same = icmp eq i32 %g2, %seen
  br i1 %same, label %futex, label %woke
futex:
  %w = call i64 (i64, ...) @syscall(i64 {futex}, ptr %genp, i32 128, i32 %seen, ptr null)
  br label %woke
woke:
  %s1 = atomicrmw sub ptr %sleepers, i32 1 seq_cst
  br label %cont"""
        wake = f"""  %sleepers = getelementptr i8, ptr %block, i64 16
  %asleep = load atomic i32, ptr %sleepers seq_cst, align 4
  %any = icmp ne i32 %asleep, 0
  br i1 %any, label %wake, label %out
wake:
  %r = call i64 (i64, ...) @syscall(i64 {futex}, ptr %genp, i32 129, i32 2147483647)
  br label %out"""
    return decl + f"""declare i32 @sched_yield()
define internal i32 @hb_wait_generation(ptr %block, i32 %seen, i32 %spins) nounwind {{
entry:
  %genp = getelementptr i32, ptr %block, i64 1
  br label %spin
spin:
  %k = phi i32 [ 0, %entry ], [ %k1, %cont ]
  %g = load atomic i32, ptr %genp acquire, align 4
  %moved = icmp ne i32 %g, %seen
  br i1 %moved, label %out, label %wait
wait:
  %k1 = add i32 %k, 1
  %long = icmp ugt i32 %k1, %spins
  br i1 %long, label %patient, label %pause
pause:
  {pause}
  br label %cont
patient:
  %limit = add i32 %spins, {YIELDS}
  %longer = icmp ugt i32 %k1, %limit
  br i1 %longer, label %sleep, label %yield
sleep:
{sleep}
yield:
  %y = call i32 @sched_yield()
  br label %cont
cont:
  br label %spin
out:
  ret i32 %g
}}
define internal void @hb_next_generation(ptr %block) nounwind {{
entry:
  %genp = getelementptr i32, ptr %block, i64 1
  %ignored = atomicrmw add ptr %genp, i32 1 seq_cst
{wake}
out:
  ret void
}}
"""


def ipow_ir(dtype: str) -> str:
    """Integer power by squaring. A negative exponent never reaches the caller: the kernel's
    `Check` on the exponent makes the runtime raise as NumPy does (the value computed meanwhile,
    0 or the exact power of 1 and -1, is discarded)."""
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


def round_to_bf16(fn: Fn, v: str) -> str:
    """A float -> bfloat16 rounded once to nearest even as ml_dtypes does, by integer arithmetic on
    its bits (LLVM's own float -> bfloat is a libcall on some hosts and flushes subnormals to zero
    with AVX512-BF16 on others); a NaN stays a (quiet) NaN of its sign."""
    bits = fn.op(f"bitcast float {v} to i32")
    lsb = fn.op(f"and i32 {fn.op(f'lshr i32 {bits}, 16')}, 1")
    rounded = fn.op(f"add i32 {bits}, {fn.op(f'add i32 {lsb}, 32767')}")
    quiet = fn.op(f"or i32 {bits}, 4194304")
    nan = fn.op(f"fcmp uno float {v}, 0.0")
    top = fn.op(f"lshr i32 {fn.op(f'select i1 {nan}, i32 {quiet}, i32 {rounded}')}, 16")
    return fn.op(f"bitcast i16 {fn.op(f'trunc i32 {top} to i16')} to bfloat")


def truncsfbf2_ir() -> str:
    """LLVM legalizes some bfloat operations on hosts without AVX512-BF16 (a compare or select of a
    loaded value, after its own combines) by rounding through compiler-rt's __truncsfbf2, which
    MCJIT does not link: every AOT module and the JIT's runtime module define it (weak: a linker keeps
    one) with hybrid's rounding."""
    fn = Fn("define weak hidden bfloat @__truncsfbf2(float %x) nounwind")
    fn.do(f"ret bfloat {round_to_bf16(fn, '%x')}")
    return fn.text()


def runtime_ir(triple: str) -> str:
    """The module of the JIT's shared runtime helpers: hb_barrier (hidden: the engine links the graph's
    calls to it) and __truncsfbf2."""
    return f'target triple = "{triple}"\n\n' + barrier_ir(triple, "hidden") + "\n" + truncsfbf2_ir() + "\n"
