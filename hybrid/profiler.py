"""Where the time goes: per-kernel and per-op times, FLOP/s, bytes moved, fraction of the host's peak.

    with hb.profiler.profile() as p:
        net(x)                                   # compiled: each kernel of the call is timed
        y = np.tanh(a @ b)                       # eager: each op is timed
    print(p.table())                             # top kernels/ops by total time
    p.export_chrome_trace("trace.json")          # open in https://ui.perfetto.dev or chrome://tracing

`HYBRID_PROFILE=1 python model.py` profiles the whole run and prints the table at exit;
`HYBRID_PROFILE=trace.json` also writes the trace there.

Compiled code (LLVM) stamps the cycle counter after each kernel, all threads having finished it
(codegen/llvm/profiling.py), so a call's kernel times add up to the call; eager ops are timed
around their NumPy reference. The peak is measured on this host once per process, the first
time a table asks for it: the best of 10 float32 512^3 matrix products (FLOP/s) and of 10 32 MiB
copies (bytes read + written per second), through NumPy on every core; on a busy machine it reads low.
The trace is the Chrome trace-event JSON (MXNet's `mx.profiler.dump()` writes the same format):
complete ("X") events in microseconds, one process, a lane per Python thread.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy

from . import events
from .config import config
from .core.engine import ENGINE

__all__ = ["profile", "Profile", "host_peak"]


@dataclass(frozen=True)
class Peak:
    flops_per_s: float
    bytes_per_s: float


@functools.lru_cache(maxsize=None)
def host_peak() -> Peak:
    """This host's measured peak: best of 10 float32 512^3 products and 32 MiB copies (see the module doc)."""
    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((512, 512), dtype=numpy.float32)
    b = rng.standard_normal((512, 512), dtype=numpy.float32)
    src = numpy.ones(8 << 20, numpy.float32)
    dst = numpy.empty_like(src)
    best_mm = best_copy = float("inf")
    for _ in range(10):
        t = time.perf_counter()
        numpy.matmul(a, b)
        best_mm = min(best_mm, time.perf_counter() - t)
        t = time.perf_counter()
        numpy.copyto(dst, src)
        best_copy = min(best_copy, time.perf_counter() - t)
    return Peak(2.0 * 512 ** 3 / best_mm, 2.0 * src.nbytes / best_copy)


@dataclass
class Row:
    """One line of the table: every event of one name and kind (and, for kernels, one kernel)."""
    name: str
    category: str
    where: str
    shapes: str = ""
    calls: int = 0
    total_ns: int = 0
    flops: int = 0
    bytes: int = 0

    def rates(self) -> tuple[float, float]:
        seconds = max(self.total_ns, 1) * 1e-9
        return self.flops / seconds, self.bytes / seconds


class Profile:
    """The events recorded between `start()` and `stop()` (or inside `with profile()`)."""

    def __init__(self):
        self.events: list[events.Event] = []
        self._lock = threading.Lock()
        self.started_ns = self.stopped_ns = 0

    def add(self, event: events.Event) -> None:
        with self._lock:
            self.events.append(event)

    def start(self) -> "Profile":
        ENGINE.drain()         # work queued before the profile is not part of it
        self.started_ns = time.perf_counter_ns()
        events.open_session(self)
        return self

    def stop(self) -> None:
        ENGINE.drain()         # work queued inside the profile belongs to it
        events.close_session(self)
        self.stopped_ns = time.perf_counter_ns()

    # -- summaries --------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """Kernels and eager ops aggregated by name (a kernel also by its kernel function and graph),
        largest total time first. Compiled calls are the frame, not a row."""
        rows: dict[tuple, Row] = {}
        for e in self.events:
            if e.category == "call":
                continue
            where = f"{e.args.get('graph', '')}:{e.args['kernel']}" if e.category == "kernel" else "eager"
            key = (e.name, e.category, where, e.args.get("shapes"))
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(e.name, e.category, where, e.args.get("shapes") or "")
            row.calls += 1
            row.total_ns += e.dur_ns
            row.flops += e.flops
            row.bytes += e.bytes
        return sorted(rows.values(), key=lambda r: -r.total_ns)

    def total_ns(self) -> int:
        """Time in compiled calls plus eager ops (what the rows divide up)."""
        return sum(e.dur_ns for e in self.events if e.category in ("call", "op"))

    def table(self, top: int = 20, peak: Optional[Peak] = None) -> str:
        """The `top` kernels and ops by total time: calls, total and mean time, share of the profiled time,
        GFLOP/s, GB/s, and the fraction of the host's peak (the larger of compute and bandwidth: how close
        the kernel is to its roofline)."""
        peak = peak or host_peak()
        total = max(self.total_ns(), 1)
        head = (f"{'kernel / op':<34} {'where':<24} {'calls':>6} {'total ms':>9} {'mean us':>9} {'%time':>6} "
                f"{'GFLOP/s':>8} {'GB/s':>7} {'%peak':>6}  operands")
        lines = [head, "-" * len(head)]
        rows = self.rows()
        above = False
        for r in rows[:top]:
            flops_s, bytes_s = r.rates()
            frac = max(flops_s / peak.flops_per_s, bytes_s / peak.bytes_per_s)
            above |= frac > 1.0
            lines.append(f"{_clip(r.name, 34):<34} {r.where[-24:]:<24} {r.calls:>6} {r.total_ns / 1e6:>9.3f} "
                         f"{r.total_ns / r.calls / 1e3:>9.1f} {100 * r.total_ns / total:>5.1f}% "
                         f"{flops_s / 1e9:>8.1f} {bytes_s / 1e9:>7.1f} {100 * frac:>5.0f}%  {r.shapes[:48]}")
        calls = [e for e in self.events if e.category == "call"]
        lines.append("-" * len(head))
        lines.append(f"{len(rows)} kernels/ops ({max(0, len(rows) - top)} not shown); {len(calls)} compiled calls "
                     f"{sum(e.dur_ns for e in calls) / 1e6:.3f} ms, eager ops "
                     f"{sum(e.dur_ns for e in self.events if e.category == 'op') / 1e6:.3f} ms; host peak "
                     f"{peak.flops_per_s / 1e9:.0f} GFLOP/s, {peak.bytes_per_s / 1e9:.1f} GB/s (measured)")
        schedules = {e.args["graph"]: e.args["schedule"] for e in calls if e.args.get("schedule")}
        for graph, schedule in sorted(schedules.items()):   # codegen/schedule_choice.py's choice per graph
            lines.append(f"@{graph}: concurrent kernel groups run {schedule}")
        if above:
            lines.append("some rows exceed the measured peak: the machine was busy while the peak was measured; "
                         "pass table(peak=Peak(flops_per_s, bytes_per_s)) or measure on a quiet machine")
        return "\n".join(lines)

    # -- Chrome trace -----------------------------------------------------------------------

    def chrome_trace(self) -> dict:
        """The trace as a dict: {"traceEvents": [...], "displayTimeUnit": "ms"}."""
        pid = os.getpid()
        origin = min((e.start_ns for e in self.events), default=self.started_ns)
        lanes: dict[int, int] = defaultdict(lambda: len(lanes))
        trace = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "hybrid"}}]
        for e in sorted(self.events, key=lambda e: (e.start_ns, -e.dur_ns)):
            tid = lanes[e.thread]
            args = {k: v for k, v in e.args.items() if v is not None}
            args.update(flops=e.flops, bytes=e.bytes)
            trace.append({"name": e.name, "cat": e.category, "ph": "X", "pid": pid, "tid": tid,
                          "ts": (e.start_ns - origin) / 1e3, "dur": e.dur_ns / 1e3, "args": args})
        for thread, tid in lanes.items():
            trace.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                          "args": {"name": f"python thread {thread}"}})
        return {"traceEvents": trace, "displayTimeUnit": "ms"}

    def export_chrome_trace(self, path: str) -> None:
        """Write the trace for chrome://tracing or https://ui.perfetto.dev."""
        with open(path, "w") as f:
            json.dump(self.chrome_trace(), f)


@contextlib.contextmanager
def profile() -> Iterator[Profile]:
    """Record every eager op and compiled kernel run inside the block (all threads)."""
    p = Profile().start()
    try:
        yield p
    finally:
        p.stop()


def _profile_whole_run(setting: str) -> None:
    """HYBRID_PROFILE: record from import to exit; then print the table (and write the trace)."""
    p = Profile().start()

    def report() -> None:
        p.stop()
        print(p.table(), file=sys.stderr)
        if setting.endswith(".json"):
            p.export_chrome_trace(setting)
            print(f"[hybrid] profile trace written to {setting}", file=sys.stderr)
    atexit.register(report)


if config.get("profile") is not None:
    _profile_whole_run(config.get("profile"))


def _clip(name: str, width: int) -> str:
    """`name` in at most `width` characters: a long fused-kernel name loses the middle of its op chain, never
    the convolution kind in brackets at its end ("conv2d+mul+add+relu+...[winograd]")."""
    if len(name) <= width:
        return name
    cut = name.rfind("[")
    tail = name[cut:] if cut > 0 and len(name) - cut < width // 2 else ""
    return name[:width - len(tail) - 3] + "..." + tail
