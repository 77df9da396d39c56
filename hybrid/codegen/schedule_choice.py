"""Per compiled graph: run its concurrent groups (passes/concurrent_groups.py) side by side, or in order?

Which is faster depends on the host (cores, their load) and on the graph (how small its kernels are:
a kernel too small to keep every thread busy wastes the team at its barriers; two such kernels on
half the team each waste less), so it is measured, like the GEMM's and convolutions' choices are
by bench/: the graph's first calls alternate the two schedules (one unmeasured warm-up call each,
then TRIALS measured calls each, wall time), and from then on the graph runs the side-by-side schedule
only if it was at least 1 - MARGIN faster than the in-order call next to it in nearly every pair
(TRIALS - 1 of TRIALS): a sign test over adjacent pairs, which share the host's load of the moment,
so a loaded machine's noise (calls taking several times their CPU time while waiting for a core)
keeps the order rather than picking at random. Ties keep the order too: it leaves threads free for
other work. The choice and its evidence are logged (HYBRID_LOG=compile) and kept in `reason`, which
the profiler's call events and table carry. The setting concurrent_groups (HYBRID_CONCURRENT_GROUPS)
forces "on" or "off" instead of "auto". Both schedules run the same kernels on the same memory plan,
so the results are the same bit for bit, whichever runs.
"""
from __future__ import annotations

import threading
from typing import Optional

from .. import log
from ..config import config

TRIALS = 7
MARGIN = 0.95     # a side-by-side call wins its pair when it takes below MARGIN x the in-order call's time


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
        self.reason = f"{'side by side' if concurrent else 'in order'} ({why})"
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
                pairs = list(zip(self.times[True], self.times[False]))[:TRIALS]
                wins = sum(side < MARGIN * ordered for side, ordered in pairs)
                ratio = sorted(side / ordered for side, ordered in pairs)[TRIALS // 2]
                self._decide(wins >= TRIALS - 1,
                             f"side by side {1 / MARGIN:.2f}x faster in {wins} of {TRIALS} paired calls, median "
                             f"time ratio {ratio:.2f}, on {self.threads} threads")
