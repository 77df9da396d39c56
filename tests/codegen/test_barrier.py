"""The generated thread barrier (codegen/llvm/support.barrier_ir): every thread leaves a round only after all
arrived, and a thread kept waiting long sleeps (futex) instead of spinning on a core."""
import ctypes
import platform
import threading
import time

import llvmlite.binding as llvm
import numpy
import pytest

from hybrid.codegen.llvm import support, target

# rounds(bar, counts, tid, nt, n, busy): per round, count the thread in, meet, and record whether all arrived;
# thread 0 first spins `busy` iterations on the odd rounds, so the others wait long there
TEST_IR = """
define void @rounds(ptr %bar, ptr %counts, ptr %seen, i32 %tid, i32 %nt, i32 %n, i64 %busy) {
entry:
  br label %round
round:
  %r = phi i32 [ 0, %entry ], [ %r1, %next ]
  %odd = and i32 %r, 1
  %first = icmp eq i32 %tid, 0
  %slow = icmp ne i32 %odd, 0
  %spin = and i1 %first, %slow
  br i1 %spin, label %work, label %arrive
work:
  %i = phi i64 [ 0, %round ], [ %i1, %work ]
  %i1 = add i64 %i, 1
  call void asm sideeffect "", ""()
  %more = icmp slt i64 %i1, %busy
  br i1 %more, label %work, label %arrive
arrive:
  %slot = getelementptr i32, ptr %counts, i32 %r
  %c = atomicrmw add ptr %slot, i32 1 seq_cst
  call void @hb_barrier(ptr %bar, i32 %nt)
  %all = load atomic i32, ptr %slot seq_cst, align 4
  %mine = mul i32 %r, %nt
  %at = add i32 %mine, %tid
  %out = getelementptr i32, ptr %seen, i32 %at
  store i32 %all, ptr %out
  call void @hb_barrier(ptr %bar, i32 %nt)
  br label %next
next:
  %r1 = add i32 %r, 1
  %done = icmp eq i32 %r1, %n
  br i1 %done, label %exit, label %round
exit:
  ret void
}
"""


@pytest.fixture(scope="module")
def rounds():
    triple = llvm.get_process_triple()
    with target.LLVM_LOCK:
        mod = llvm.parse_assembly(f'target triple = "{triple}"\n' + support.barrier_ir(triple) + TEST_IR)
        engine = llvm.create_mcjit_compiler(mod, target.new_target_machine(False))
        engine.finalize_object()
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32,
                          ctypes.c_int32, ctypes.c_int64)(engine.get_function_address("rounds"))
    return engine, fn


def _run(fn, nt: int, n: int, busy: int):
    """Run `rounds` on nt threads; returns the barrier words and what each thread saw after each round."""
    bar = numpy.zeros(support.BARRIER_BYTES // 4, numpy.int32)
    counts = numpy.zeros(n, numpy.int32)
    seen = numpy.zeros((n, nt), numpy.int32)
    threads = [threading.Thread(target=fn, args=(bar.ctypes.data, counts.ctypes.data, seen.ctypes.data, t, nt, n,
                                                 busy)) for t in range(nt)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bar, seen


@pytest.mark.parametrize("nt", [2, 3, 5])
def test_no_thread_leaves_a_round_before_all_arrived(rounds, nt):
    _, fn = rounds
    bar, seen = _run(fn, nt, 40, 20000)
    assert (seen == nt).all()
    assert bar[0] == 0 and bar[1] == 2 * 40 and bar[4] == 0     # nobody arrived, 80 rounds passed, no sleeper left


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64") or platform.system() != "Linux",
                    reason="the futex wait is Linux x86_64/aarch64 only; elsewhere waiters yield")
def test_a_thread_kept_waiting_sleeps_instead_of_spinning(rounds):
    # thread 0 works a long while on each odd round; thread 1, waiting, gives up spinning and yielding and
    # sleeps: the barrier counts each sleep (bar[5]), and every sleeper was woken and left (bar[4] back to 0).
    # On a loaded host each of thread 1's yields may give its core away for a whole time slice, so its
    # yields can outlast thread 0's work: then thread 0's work grows fourfold, up to three times.
    _, fn = rounds
    busy = 300_000_000
    for _attempt in range(3):
        bar, seen = _run(fn, 2, 4, busy)
        assert (seen == 2).all() and bar[4] == 0
        if bar[5] >= 1:
            break
        busy *= 4
    assert bar[5] >= 1
