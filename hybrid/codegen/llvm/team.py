"""The thread team of the JIT's compiled graphs: nthreads - 1 helper threads plus the caller run a graph's
entry point with their (tid, nthreads); the generated code meets at its own barrier, so no Python runs between
kernels.

Between calls the helpers wait in native code, not in Python: each helper thread enters `hb_team_serve` once
(ctypes releases the GIL) and stays there, and a call publishes itself with `hb_team_run`, which runs the
caller's share (tid 0) and returns once every helper has finished. Waiting on Python semaphores instead cost
every call a Condition notify, the GIL hand-over and, the helper having gone to sleep, a futex wake of a halted
virtual CPU: 45-130 us per call on the 2-core VM (W1's profile booked it in its first segment's row). A helper
now spins on the team's generation word for TEAM_SPINS pauses after each call (tens of microseconds: a loop
calling the graph back to back finds it awake), then yields and sleeps on a futex (support.generation_ir).

Team block (TEAM_WORDS u64 words; the first 24 bytes are laid out as a barrier's, for hb_wait_generation):
    bytes 0-23   -, generation i32, -, sleepers i32, sleeps i32
    24 entry     the graph's entry point      32 table      40 arena      48 bar     (the call's arguments)
    56 running   helpers not yet done (i32)   60 stop (i32)                64 nthreads (i32)

A call that finds the team busy (another Python thread is running the graph) runs alone on its own thread. A
forked child starts a fresh team (fork copies only the calling thread). `stop()` ends the helpers.
"""
from __future__ import annotations

import ctypes
import functools
import threading

import numpy

from . import support, target

TEAM_WORDS = 9
TEAM_SPINS = 4096     # pauses a helper spins after a call before it yields (then sleeps): ~50-150 us
# pointers to the block's fields (module doc), at the start of each function
FIELDS = "".join(f"  %{name}p = getelementptr i8, ptr %team, i64 {offset}\n" for name, offset in
                 (("entry", 24), ("table", 32), ("arena", 40), ("bar", 48), ("running", 56), ("stop", 60), ("nt", 64)))


def team_ir(triple: str) -> str:
    """hb_team_serve(ptr team, i32 tid), hb_team_run(ptr team, ptr table, ptr arena, ptr bar, i32 nt) and
    hb_team_stop(ptr team), over support.generation_ir's waiting and waking."""
    pause = support.pause_instruction(triple)
    return f'target triple = "{triple}"\n' + support.generation_ir(triple) + f"""
define void @hb_team_serve(ptr %team, i32 %tid) nounwind {{
entry:
{FIELDS}  br label %wait
wait:
  %seen = phi i32 [ 0, %entry ], [ %g, %run ], [ %g, %work ]   ; helpers start before a block's first call
  %g = call i32 @hb_wait_generation(ptr %team, i32 %seen, i32 {TEAM_SPINS})
  %stop = load atomic i32, ptr %stopp acquire, align 4
  %stopping = icmp ne i32 %stop, 0
  br i1 %stopping, label %out, label %work
work:
  %nt = load i32, ptr %ntp, align 4
  %mine = icmp slt i32 %tid, %nt
  br i1 %mine, label %run, label %wait
run:
  %fn = load ptr, ptr %entryp, align 8
  %table = load ptr, ptr %tablep, align 8
  %arena = load ptr, ptr %arenap, align 8
  %bar = load ptr, ptr %barp, align 8
  call void %fn(ptr %table, ptr %arena, ptr %bar, i32 %tid, i32 %nt)
  %left = atomicrmw sub ptr %runningp, i32 1 release
  br label %wait
out:
  ret void
}}

define void @hb_team_run(ptr %team, ptr %table, ptr %arena, ptr %bar, i32 %nt) nounwind {{
entry:
{FIELDS}  store ptr %table, ptr %tablep, align 8
  store ptr %arena, ptr %arenap, align 8
  store ptr %bar, ptr %barp, align 8
  store i32 %nt, ptr %ntp, align 4
  %helpers = sub i32 %nt, 1
  store atomic i32 %helpers, ptr %runningp monotonic, align 4
  call void @hb_next_generation(ptr %team)
  %fn = load ptr, ptr %entryp, align 8
  call void %fn(ptr %table, ptr %arena, ptr %bar, i32 0, i32 %nt)
  br label %join
join:
  %k = phi i32 [ 0, %entry ], [ %k1, %pause ], [ %k1, %yield ]
  %left = load atomic i32, ptr %runningp acquire, align 4
  %all = icmp eq i32 %left, 0
  br i1 %all, label %out, label %later
later:
  %k1 = add i32 %k, 1
  %long = icmp ugt i32 %k1, {support.SPINS}
  br i1 %long, label %yield, label %pause
pause:
  {pause}
  br label %join
yield:
  %y = call i32 @sched_yield()
  br label %join
out:
  ret void
}}

define void @hb_team_stop(ptr %team) nounwind {{
entry:
{FIELDS}  store atomic i32 1, ptr %stopp release, align 4
  call void @hb_next_generation(ptr %team)
  ret void
}}
"""


_SERVE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32)
_RUN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)
_STOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.lru_cache(maxsize=None)
def _native() -> tuple:
    """(engine, serve, run, stop): team_ir compiled once per process."""
    import llvmlite.binding as llvm
    with target.LLVM_LOCK:
        mod = llvm.parse_assembly(team_ir(llvm.get_process_triple()))
        mod.verify()
        engine = llvm.create_mcjit_compiler(mod, target.new_target_machine(False))
        engine.finalize_object()
    return (engine, _SERVE(engine.get_function_address("hb_team_serve")),
            _RUN(engine.get_function_address("hb_team_run")), _STOP(engine.get_function_address("hb_team_stop")))


class Team:
    """nthreads callers of one entry point (see the module doc). The helper threads start at the first call,
    and again in a forked child (fork copies only the calling thread: the child's team would wait forever on
    helpers that do not exist)."""

    def __init__(self, entry_address: int, nthreads: int):
        self.entry, self.n = entry_address, nthreads
        self.reset()

    def reset(self) -> None:
        """A fresh block and no threads (also the after-fork state of a child)."""
        self.busy = threading.Lock()
        self.block = numpy.zeros(TEAM_WORDS, numpy.uint64)
        self.block[3] = self.entry
        self.address = self.block.ctypes.data
        self.threads: list[threading.Thread] = []

    def _start(self) -> None:
        _, serve, _, _ = _native()
        # each thread holds the block (its target's arguments) until it leaves hb_team_serve
        self.threads = [threading.Thread(target=_serve, args=(serve, self.block, self.address, i + 1), daemon=True,
                                         name=f"hybrid-{i + 1}") for i in range(self.n - 1)]
        for t in self.threads:
            t.start()

    def run(self, table: int, arena: int, bar: int) -> bool:
        """Run on all threads; False (nothing run) when another call holds the team."""
        if not self.busy.acquire(blocking=False):
            return False
        try:
            if not self.threads:
                self._start()
            _native()[2](self.address, table, arena, bar, self.n)
        finally:
            self.busy.release()
        return True

    def stop(self) -> None:
        if self.threads:
            _native()[3](self.address)


def _serve(serve, block: numpy.ndarray, address: int, tid: int) -> None:   # noqa: ARG001 (keeps block alive)
    serve(address, tid)
