"""Where timed work goes while a profile is recorded (hybrid.profiler is the user's side).

Eager dispatch and the compiled runtimes sit below the profiler in the import order, so they
report here: `recording()` is one list test when nobody profiles, and `emit` hands an Event to
every open session. Times are time.perf_counter_ns() values, so eager ops, compiled calls and
their kernels share one clock.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

_sessions: list = []       # open profiler sessions, each with an add(event) method
_lock = threading.Lock()


@dataclass
class Event:
    name: str                # an op ("conv2d"), a kernel's ops ("conv2d+add+relu"), a graph ("@resnet18")
    category: str            # "op" (eager), "kernel" (one kernel of a compiled call), "call" (a compiled call)
    start_ns: int
    dur_ns: int
    flops: int = 0
    bytes: int = 0
    thread: int = 0          # the Python thread that ran or launched it (threading.get_ident())
    args: dict = field(default_factory=dict)   # shapes, kernel name, graph, source line


def recording() -> bool:
    return bool(_sessions)


def emit(event: Event) -> None:
    for session in list(_sessions):
        session.add(event)


def open_session(session) -> None:
    with _lock:
        _sessions.append(session)


def close_session(session) -> None:
    with _lock:
        if session in _sessions:
            _sessions.remove(session)


def current_thread() -> int:
    return threading.get_ident()


def kernel_events(graph: str, backend: str, segments: list, start_ns: int, stamps_ns: list[float],
                  thread: Optional[int] = None) -> list[Event]:
    """Events of one compiled call's kernels: segment i ran from stamps_ns[i] to stamps_ns[i + 1]
    (nanoseconds after start_ns). segments: objects with name, label, flops, bytes, shapes, loc."""
    tid = current_thread() if thread is None else thread
    out = []
    for i, seg in enumerate(segments):
        begin, end = stamps_ns[i], stamps_ns[i + 1]
        out.append(Event(seg.label, "kernel", start_ns + int(begin), max(0, int(end - begin)), seg.flops, seg.bytes,
                         tid, {"kernel": seg.name, "graph": graph, "backend": backend, "shapes": seg.shapes,
                               "line": seg.loc}))
    return out
