"""Per compiled graph: run its concurrent groups (passes/concurrent_groups.py) side by side, or in order?

Which is faster depends on the host (cores, their load) and on the graph (how small its kernels are:
a kernel too small to keep every thread busy wastes the team at its barriers; two such kernels on
half the team each waste less), so it is measured, like the GEMM's and convolutions' choices are
by bench/: the graph's first calls alternate the two schedules (one unmeasured warm-up call each,
then TRIALS measured calls each, wall time), and from then on the graph runs the faster one by the
best of its calls (other processes only ever add time to a call, so the minimum is what the schedule
itself costs; on a shared machine a median mostly measures the neighbours). The concurrent schedule
must win by MARGIN (ties keep the order: it leaves threads free for other work).
The choice and the two times are logged (HYBRID_LOG=compile) and kept in `reason`, which the
profiler's call events carry. The setting concurrent_groups (HYBRID_CONCURRENT_GROUPS) forces
"on" or "off" instead of "auto". Both schedules run the same kernels on the same memory plan,
so the results are the same bit for bit, whichever runs.
"""
from __future__ import annotations

import threading
from typing import Optional

from .. import log
from ..config import config

TRIALS = 5
MARGIN = 0.95     # the concurrent schedule's best call must be below MARGIN x the in-order one


class ScheduleChoice:
    """Which schedule the next call of one graph runs, and what the calls so far measured."""

    def __init__(self, graph: str, backend: str, regions: int, threads: int):
        self.graph, self.backend, self.regions, self.threads = graph, backend, regions, threads
        self.times: dict[bool, list[float]] = {False: [], True: []}
        self.calls = {False: 0, True: 0}
        self.warm = {False: False, True: False}
        self.lock = threading.Lock()
        self.decided: Optional[bool] = None
        self.reason = ""
        setting = config.get("concurrent_groups")
        if not regions or threads < 2:
            self._decide(False, "no independent kernel groups" if not regions else "one thread")
        elif setting != "auto":
            self._decide(setting == "on", f"concurrent_groups={setting}")

    def _decide(self, concurrent: bool, why: str) -> None:
        self.decided = concurrent
        self.reason = f"{'concurrent' if concurrent else 'in order'} ({why})"
        if self.regions:
            log.log("compile", f"{self.backend}: @{self.graph} runs its {self.regions} concurrent region(s) "
                               f"{self.reason}")

    def next(self) -> bool:
        """Whether the next call runs the groups concurrently (and counts toward the measurement)."""
        if self.decided is not None:
            return self.decided
        with self.lock:
            concurrent = self.calls[True] < self.calls[False]
            self.calls[concurrent] += 1
            return concurrent

    def record(self, concurrent: bool, seconds: float) -> None:
        """The wall time of a call that ran `concurrent` on the whole team (the first of each is a warm-up)."""
        if self.decided is not None:
            return
        with self.lock:
            if not self.warm[concurrent]:
                self.warm[concurrent] = True
            else:
                self.times[concurrent].append(seconds)
            if self.decided is None and all(len(t) >= TRIALS for t in self.times.values()):
                ordered, side = (min(self.times[c]) for c in (False, True))
                self._decide(side < MARGIN * ordered,
                             f"measured {side * 1e3:.3f} ms concurrent vs {ordered * 1e3:.3f} ms in order, "
                             f"best of {TRIALS} calls each on {self.threads} threads")
