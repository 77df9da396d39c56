"""Calling a compiled entry point: output buffers, arenas and the thread team.

- Outputs come from `OutputAllocator`: a buffer is handed out again only once every array
  viewing it has been freed (its refcount drops back to the pool's own references), so a
  steady loop reuses warm pages and never overwrites an array the user still holds.
- One arena per concurrent call (a small free list), allocated once and reused.
- `team.Team`: nthreads - 1 persistent helper threads, waiting in native code between calls,
  plus the caller each run the entry point with their (tid, nthreads); the generated code
  synchronizes with its own spin barrier, so no Python runs between kernels. A call that
  finds the team busy (another Python thread is using it) runs single-threaded instead. A
  forked child gets fresh teams, locks and arenas (os.register_at_fork).
- Concurrent regions (module.py stage 4): the barrier block after the pointer table holds the
  team's barrier, the call's schedule word and one barrier per sub-team; the schedule word is what
  the graph's ScheduleChoice (codegen/schedule_choice.py) picks for the call: the first calls
  measure both schedules (wall time of calls run on the whole team), then the faster one stays.
- Checks (kernel.Check: take's indices, integer pow's exponents): the kernels write the
  extreme values seen into arena slots every call; after the call the runner tests them and
  raises the error eager code would, discarding the call's outputs.
- Profiling (hybrid.events recording): the call points the module's `hb_profile` at a stamp
  buffer (profiling.py), then reports the call and each kernel as events.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy

from ... import events
from ..kernel.describe import first_failure
from ..schedule_choice import ScheduleChoice
from . import profiling
from .support import BARRIER_BYTES
from .team import Team

ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                              ctypes.c_int32)


_ADDRESSES: dict[int, tuple[weakref.ref, int]] = {}   # id(array) -> (weak reference, data address)


def address(a: numpy.ndarray) -> int:
    """The data address of a C-contiguous array. The same arrays (an input the caller reuses, the
    parameters) come back call after call, so addresses are remembered by identity; a weak reference
    tells a live array from a new one that reuses a dead one's id (and keeps nothing alive)."""
    hit = _ADDRESSES.get(id(a))
    if hit is not None and hit[0]() is a:
        return hit[1]
    try:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(a))   # fast; needs a writable, non-empty buffer
    except (TypeError, ValueError):
        addr = a.ctypes.data
    if len(_ADDRESSES) > 4096:
        _ADDRESSES.clear()
    _ADDRESSES[id(a)] = (weakref.ref(a), addr)
    return addr


class OutputAllocator:
    """Recycles output buffers whose arrays the user has dropped."""

    KEEP = 4   # buffers kept per output slot

    def __init__(self, specs: list[tuple[tuple[int, ...], numpy.dtype]]):
        self.specs = specs
        self.pools: list[list[numpy.ndarray]] = [[] for _ in specs]
        self.addrs: dict[int, int] = {}
        self.lock = threading.Lock()

    def take(self) -> tuple[list[numpy.ndarray], list[int]]:
        """Fresh output arrays and their addresses."""
        out, addrs = [], []
        with self.lock:
            for pool, spec in zip(self.pools, self.specs):
                for cand in pool:
                    # references: the pool list, `cand`, getrefcount's argument
                    if sys.getrefcount(cand) <= 3:
                        out.append(cand.view())
                        addrs.append(self.addrs[id(cand)])
                        break
                else:
                    buf = numpy.empty(*spec)
                    if len(pool) >= self.KEEP:
                        out.append(buf)
                    else:
                        pool.append(buf)
                        self.addrs[id(buf)] = buf.ctypes.data
                        out.append(buf.view())
                    addrs.append(buf.ctypes.data)
        return out, addrs


_RUNNERS: "weakref.WeakSet[Runner]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child has only the thread that forked: every lock another thread held stays held
    and every team helper is gone. Give each live runner fresh locks, contexts and team."""
    for runner in list(_RUNNERS):
        runner.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def barrier_words(teams: int) -> int:
    """u64 words of the barrier block: the team's barrier (support.BARRIER_BYTES; its bytes 8-15 are the
    schedule word), then with sub-teams a cache line per sub-team after the first line (module.py stage 4)."""
    return 8 * (teams + 1) if teams else BARRIER_BYTES // 8


class _Context:
    """Per-call state, pooled so concurrent calls never share it: the pointer table (inputs,
    outputs, constants, then the barrier block) and an arena."""

    def __init__(self, table_len: int, arena_bytes: int, const_ptrs: list[int], first_const: int, words: int):
        self.table = (ctypes.c_uint64 * (table_len + words))()
        for i, p in enumerate(const_ptrs):
            self.table[first_const + i] = p
        self.base = ctypes.addressof(self.table)
        self.bar = self.base + 8 * table_len
        self.arena = numpy.empty(max(arena_bytes, 64) + 64, numpy.uint8)
        self.arena_addr = (self.arena.ctypes.data + 63) // 64 * 64


class _PackedParams:
    """The buffers of parameters kept pre-packed between calls (module.ModulePlan.packs). A parameter is
    repacked (by the entry point, on all threads) when its address or write token differs from the last
    call's, or when it came without a token."""

    def __init__(self, specs):
        self.specs = list(specs)
        self.buffers = [numpy.empty(floats + 16, numpy.float32) for *_, floats in self.specs]
        self.addrs = [(b.ctypes.data + 63) // 64 * 64 for b in self.buffers]
        self.keys: list = [None] * len(self.specs)

    def flags(self, addrs: list[int], tokens: Optional[list]) -> tuple[list, list[int]]:
        """(this call's keys, the repack flag of each buffer)."""
        keys = [(addrs[spec[0]], tokens[spec[0]] if tokens else None) for spec in self.specs]
        return keys, [int(key[1] is None or key != old) for key, old in zip(keys, self.keys)]

    def forget(self) -> None:
        self.keys = [None] * len(self.specs)


@dataclass
class ProfileHook:
    """What a profiled call needs: the address of the module's `hb_profile` pointer and the timed segments."""
    global_address: int
    segments: list
    graph: str
    lock: threading.Lock = field(default_factory=threading.Lock)   # one profiled call at a time uses the pointer

    def run(self, call: Callable[[], None], schedule: str = "") -> None:
        """Run `call` with the stamps on and report it and its kernels (schedule: the graph's choice of
        schedule for its concurrent groups, shown on the call event)."""
        rate = profiling.ticks_per_ns()
        stamps = numpy.zeros(len(self.segments) + 1, numpy.uint64)
        pointer = ctypes.c_void_p.from_address(self.global_address)
        with self.lock:
            pointer.value = stamps.ctypes.data
            try:
                start = time.perf_counter_ns()
                call()
                end = time.perf_counter_ns()
            finally:
                pointer.value = None
        offsets = (stamps.astype(numpy.float64) - float(stamps[0])) / rate
        thread = events.current_thread()
        events.emit(events.Event(f"@{self.graph}", "call", start, end - start, sum(s.flops for s in self.segments),
                                 0, thread, {"graph": self.graph, "backend": "llvm",
                                             **({"schedule": schedule} if schedule else {})}))
        for e in events.kernel_events(self.graph, "llvm", self.segments, start, list(offsets), thread):
            events.emit(e)


class Runner:
    """Owns the native entry point of one compiled graph and calls it."""

    def __init__(self, entry_address: int, arena_bytes: int, num_inputs: int, output_specs, constants,
                 output_sources, nthreads: int, keepalive=(), checks=(), packs=(),
                 profile: Optional[ProfileHook] = None, teams: int = 0,
                 schedule: Optional[ScheduleChoice] = None, parallel: bool = True):
        self.fn = ENTRY_TYPE(entry_address)
        self.parallel = parallel
        self.schedule = schedule if teams and schedule is not None else None
        words = barrier_words(teams if self.schedule is not None else 0)
        self.barrier_tails = {c: [0, int(c)] + [0] * (words - 2) for c in (False, True)}
        self.profile = profile
        self.checks = list(checks)
        self.keepalive = keepalive
        self.arena_bytes = arena_bytes
        self.num_inputs = num_inputs
        self.output_sources = output_sources if any(s is not None for s in output_sources) else None
        self.outputs = OutputAllocator(output_specs)
        self.constants = constants
        self.packs = _PackedParams(packs)
        self.table_len = num_inputs + len(output_specs) + len(constants) + 2 * len(packs)
        self.const_ptrs = [c.ctypes.data for c in constants] + self.packs.addrs
        self.table_tails = {c: self.const_ptrs + tail for c, tail in self.barrier_tails.items()}
        self.contexts: list[_Context] = []
        self.team = Team(entry_address, nthreads) if nthreads > 1 else None
        if self.team is not None:
            weakref.finalize(self, self.team.stop)
        _RUNNERS.add(self)

    def after_fork(self) -> None:
        """Fork safety (see _after_fork_in_child): a context or an output buffer may have been in use by
        a parent thread mid-call, so the child starts with none."""
        self.contexts = []
        self.outputs = OutputAllocator(self.outputs.specs)
        if self.team is not None:
            self.team.reset()

    def refresh_params(self) -> None:
        self.packs.forget()

    def _run(self, ctx: _Context, concurrent: bool = False) -> None:
        """On the team, or alone: when the team is busy, or when nothing is split across threads and the
        concurrent regions are not run side by side (the team only for its groups)."""
        start = time.perf_counter()
        on_team = self.team is not None and (concurrent or self.parallel) and \
            self.team.run(ctx.base, ctx.arena_addr, ctx.bar)
        if not on_team:
            self.fn(ctx.base, ctx.arena_addr, ctx.bar, 0, 1)
        if self.schedule is not None and (on_team or not concurrent):
            self.schedule.record(concurrent, time.perf_counter() - start)

    def __call__(self, inputs: list[numpy.ndarray], tokens: Optional[list] = None) -> list[numpy.ndarray]:
        """tokens: per input, its write token (core.context.host_data) or None (unknown: repack every call)."""
        try:
            ctx = self.contexts.pop()      # atomic under the GIL
        except IndexError:
            ctx = _Context(self.table_len, self.arena_bytes, self.const_ptrs, self.table_len - len(self.const_ptrs),
                           len(self.barrier_tails[False]))
        outs, out_addrs = self.outputs.take()
        addrs = [address(a) for a in inputs]
        profiled = self.profile is not None and events.recording()
        # a profiled call runs in order (its kernel stamps need it; the entry point checks that too)
        concurrent = self.schedule is not None and not profiled and self.schedule.next()
        # one slice assignment: inputs, outputs, constants, pack buffers, repack flags, the barrier block
        if self.packs.specs:
            keys, flags = self.packs.flags(addrs, tokens)
            ctx.table[:] = addrs + out_addrs + self.const_ptrs + flags + self.barrier_tails[concurrent]
        else:
            ctx.table[:] = addrs + out_addrs + self.table_tails[concurrent]
        try:
            if profiled:
                self.profile.run(lambda: self._run(ctx), self.schedule.reason if self.schedule else "")
            else:
                self._run(ctx, concurrent)
            error = first_failure(self.checks, ctx.arena_addr) if self.checks else None
        finally:
            self.contexts.append(ctx)
        if error is not None:
            raise error
        if self.packs.specs:
            self.packs.keys = keys
        if self.output_sources is not None:
            for j, src in enumerate(self.output_sources):
                if src is not None:
                    kind, i = src
                    outs[j][...] = inputs[i] if kind == "input" else outs[i]
        return outs
