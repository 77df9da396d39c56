"""Kernel timestamps in the native entry point, for the profiler (hybrid.profiler).

Every module defines `@hb_profile`, a pointer that is null unless a profile is being recorded.
The entry point loads it once: when it is set, all threads meet at a barrier after each kernel
(so a kernel's time is all threads' work on it, not thread 0's share) and thread 0 stores the
cycle counter (llvm.readcyclecounter: the TSC on x86) into slot i + 1 of the buffer, slot 0
being the entry. Unprofiled calls pay one predictable branch per kernel. The runner converts
ticks to nanoseconds with a rate calibrated once per process against time.perf_counter_ns.
"""
from __future__ import annotations

import ctypes
import functools
import time

from .emit import Fn

GLOBAL = "hb_profile"
DECLARES = {"declare i64 @llvm.readcyclecounter()"}
DEFINITION = f"@{GLOBAL} = hidden global ptr null, align 8"


class EntryStamps:
    """Emits the instrumentation into an entry point under construction."""

    def __init__(self, entry: Fn):
        self.entry = entry
        prof = entry.op(f"load ptr, ptr @{GLOBAL}")
        self.prof = prof
        self.on = entry.op(f"icmp ne ptr {prof}, null")
        self.stamper = entry.op(f"and i1 {self.on}, {entry.op('icmp eq i32 %tid, 0')}")
        self.count = 0
        self._stamp()

    def _stamp(self) -> None:
        e = self.entry
        with e.when(self.stamper, "stamp"):
            ticks = e.op("call i64 @llvm.readcyclecounter()")
            slot = e.op(f"getelementptr i64, ptr {self.prof}, i64 {self.count}")
            e.do(f"store i64 {ticks}, ptr {slot}")
        self.count += 1

    def after_segment(self) -> None:
        """Close a timed segment (a kernel, the repacking of parameters): every thread done, then a stamp."""
        with self.entry.when(self.on, "profiled"):
            self.entry.do("call void @hb_barrier(ptr %bar, i32 %nt)")
        self._stamp()


@functools.lru_cache(maxsize=None)
def _tick_function():
    import llvmlite.binding as llvm

    from . import target
    with target.LLVM_LOCK:
        mod = llvm.parse_assembly(
            "declare i64 @llvm.readcyclecounter()\n"
            "define i64 @hb_ticks() {\n  %t = call i64 @llvm.readcyclecounter()\n  ret i64 %t\n}\n")
        engine = llvm.create_mcjit_compiler(mod, target.new_target_machine(False))
        engine.finalize_object()
    return engine, ctypes.CFUNCTYPE(ctypes.c_uint64)(engine.get_function_address("hb_ticks"))


@functools.lru_cache(maxsize=None)
def ticks_per_ns() -> float:
    """The cycle counter's rate, from two readings 20 ms apart (the counter is invariant on current
    x86 and ARM cores, so the rate holds for the whole process)."""
    _, ticks = _tick_function()
    t0, n0 = ticks(), time.perf_counter_ns()
    time.sleep(0.02)
    t1, n1 = ticks(), time.perf_counter_ns()
    return max(t1 - t0, 1) / max(n1 - n0, 1)
