"""The JIT's thread team (codegen/llvm/team.py): every call runs the entry point once on each of its threads,
helpers wait in native code between calls (spinning, then asleep on a futex) and wake for the next call."""
import time

import llvmlite.binding as llvm
import numpy
import pytest

from hybrid.codegen.llvm import target
from hybrid.codegen.llvm.team import Team

# entry(table, arena, bar, tid, nt): table[0] += tid + 1 (atomically); table[1 + tid] = nt
ENTRY_IR = """
define void @entry(ptr %table, ptr %arena, ptr %bar, i32 %tid, i32 %nt) {
  %t1 = add i32 %tid, 1
  %w = sext i32 %t1 to i64
  %old = atomicrmw add ptr %table, i64 %w seq_cst
  %slot = getelementptr i64, ptr %table, i64 %w
  %n = sext i32 %nt to i64
  store i64 %n, ptr %slot
  ret void
}
"""


@pytest.fixture(scope="module")
def entry():
    with target.LLVM_LOCK:
        mod = llvm.parse_assembly(f'target triple = "{llvm.get_process_triple()}"\n' + ENTRY_IR)
        engine = llvm.create_mcjit_compiler(mod, target.new_target_machine(False))
        engine.finalize_object()
    return engine, engine.get_function_address("entry")


@pytest.mark.parametrize("nthreads", [2, 3])
def test_each_call_runs_every_thread_once(entry, nthreads):
    team = Team(entry[1], nthreads)
    table = numpy.zeros(1 + nthreads, numpy.int64)
    try:
        for call in range(1, 201):
            assert team.run(table.ctypes.data, 0, 0)
            assert table[0] == call * nthreads * (nthreads + 1) // 2    # tids 0..n-1 each added tid + 1
            assert (table[1:] == nthreads).all()
    finally:
        team.stop()


def test_idle_helpers_sleep_and_wake_for_the_next_call(entry):
    team = Team(entry[1], 2)
    table = numpy.zeros(3, numpy.int64)
    try:
        assert team.run(table.ctypes.data, 0, 0)
        sleeps = team.block[2:3].view(numpy.int32)[1:2]       # the block's sleep count (bytes 20-23)
        deadline = time.monotonic() + 10
        while sleeps[0] == 0 and time.monotonic() < deadline:  # the helper spins a while, then sleeps
            time.sleep(0.01)
        assert sleeps[0] >= 1
        assert team.run(table.ctypes.data, 0, 0)                # the sleeper is woken and takes part
        assert table[0] == 2 * 3
    finally:
        team.stop()


def test_a_busy_team_declines_and_stop_ends_the_helpers(entry):
    team = Team(entry[1], 3)
    table = numpy.zeros(4, numpy.int64)
    assert team.run(table.ctypes.data, 0, 0)
    with team.busy:                     # another Python thread's call holds the team: this call must run alone
        assert not team.run(table.ctypes.data, 0, 0)
    team.stop()
    for thread in team.threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert table[0] == 6
