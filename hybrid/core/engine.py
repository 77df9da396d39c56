"""The asynchronous engine: eager work is queued and arrays are futures (MXNet's engine, JAX's async dispatch).

An eager op on large arrays, or one that reads a queued op's result, goes to a pool of worker
threads and returns at once: its results are NDArrays with known types and no data yet (`Pending`).
Reading one (`asnumpy`, printing, `float()`, NumPy conversion, `x.wait_to_read()`) waits for the op
that makes it; `npx.waitall()` waits for everything. Small ops on arrays that are ready run inline,
so the one-op overhead of small-array code stays what it was.

Order (MXNet's dependency engine): each queued op lists the queued ops making its operands, and a
worker starts the oldest op whose dependencies are done, so ops on independent arrays run
concurrently (`engine_workers` threads, default 2) while dependent ones keep program order. Ops with
effects (collectives: every rank must issue them in the same order) wait for all earlier work. The
work overlaps the Python thread issuing it (compiled kernels and NumPy's large ops run without the
GIL). A write into an array (NDArray._assign, NumPy's view of it) first lets the queue drain, so no
queued op reads an array after a later write.

Errors: a queued op that raises marks its results failed, and ops reading a failed array fail with
the same error; it is raised at the first read of a failed array (or by waitall), with a note naming
the op, its operand types and the user's line that queued it. Shape errors are not deferred: types
are inferred when the op is issued.

HYBRID_ENGINE=naive (or `hb.config(engine="naive")`) runs every op inline (MXNet's NaiveEngine), for
debugging.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Optional

from ..config import config

# Queuing costs two thread wake-ups per op (tens of microseconds on an idle machine, milliseconds on a loaded
# one), so only work that takes much longer goes to the worker: an eager op from MIN_ELEMENTS result elements
# (4 MiB of float32) or MIN_FLOPS of convolution/matmul/pooling, a hybridized call from MIN_ELEMENTS outputs or
# CALL_MIN_FLOPS of work (LeNet-5 or an MLP layer stay inline; ResNet-18 is queued).
MIN_ELEMENTS = 1 << 20
MIN_FLOPS = 1 << 27
CALL_MIN_FLOPS = 1 << 30


class Pending:
    """The results of one queued op: `done` once a worker has run it; it may start once every
    Pending in `deps` is done."""

    __slots__ = ("seq", "error", "deps", "work", "done")

    def __init__(self, seq: int, deps: tuple, work: Callable[["Pending"], None]):
        self.seq = seq
        self.error: Optional[BaseException] = None
        self.deps = deps
        self.work = work
        self.done = False

    def ready(self) -> bool:
        return all(d.done for d in self.deps)


class Engine:
    def __init__(self):
        self._cv = threading.Condition()
        self._waiting: list[Pending] = []     # queued, not started, oldest first
        self._live: list[Pending] = []        # queued or running: what an op with effects waits for
        self._submitted = 0
        self._finished = 0
        self._threads: list[threading.Thread] = []
        self._unreported: list[BaseException] = []
        self._pid = os.getpid()

    # -- policy -------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return config.get("engine") == "threaded"

    def wants(self, sig, operands_pending: bool = False) -> bool:
        """Queue this op (`sig`: its core.dispatch.Signature)? When it reads a queued result (so the call returns
        at once) or when it is large."""
        if operands_pending:
            return True      # naive mode never queues, so nothing is pending there
        if sig.size < MIN_ELEMENTS and sig.flops < MIN_FLOPS:     # flops: 0 but for conv, matmul, pool
            return False
        return self.enabled

    def busy(self) -> bool:
        return self._finished != self._submitted

    # -- queue ---------------------------------------------------------------------------------

    def submit(self, work: Callable[[Pending], None], deps=(), effects: bool = False) -> Pending:
        """Queue work(pending), to start once the Pendings in `deps` are done (`effects`: once all earlier
        work is). work must record its failure in pending.error rather than raise."""
        with self._cv:
            if not self._threads or self._pid != os.getpid():    # first use, or a forked child
                self._start()
            self._submitted += 1
            after = self._live if effects else deps
            pending = Pending(self._submitted, tuple(d for d in after if not d.done), work)
            self._waiting.append(pending)
            self._live.append(pending)
            self._cv.notify_all()
        return pending

    def _start(self) -> None:
        self._pid = os.getpid()
        self._waiting.clear()
        self._live.clear()
        self._finished = self._submitted
        self._threads = [threading.Thread(target=self._loop, name=f"hybrid-engine-{i}", daemon=True)
                         for i in range(config.get("engine_workers"))]
        for t in self._threads:
            t.start()

    def _take(self) -> Optional[Pending]:
        """The oldest waiting op whose dependencies are done (called holding the lock)."""
        for i, pending in enumerate(self._waiting):
            if pending.ready():
                del self._waiting[i]
                return pending
        return None

    def _loop(self) -> None:
        while True:
            with self._cv:
                pending = self._take()
                while pending is None:
                    self._cv.wait()
                    pending = self._take()
            try:
                pending.work(pending)
            except BaseException as exc:      # work records its own errors; this is a bug in the work
                pending.error = exc
            with self._cv:
                if pending.error is not None:
                    self._unreported.append(pending.error)
                pending.done, pending.deps, pending.work = True, (), None   # keep no operands alive
                self._live.remove(pending)
                self._finished += 1
                self._cv.notify_all()

    def wait(self, pending: Pending) -> None:
        """Block until `pending`'s op has run (workers only wait for earlier work, so no deadlock)."""
        if pending.done:
            return
        with self._cv:
            while not pending.done:
                self._cv.wait()

    def drain(self) -> None:
        """Wait for all queued work (errors stay with their arrays)."""
        if self._finished == self._submitted or threading.current_thread() in self._threads:
            return
        with self._cv:
            while self._finished < self._submitted:
                self._cv.wait()

    def reported(self, error: BaseException) -> None:
        with self._cv:
            self._unreported = [e for e in self._unreported if e is not error]

    def waitall(self) -> None:
        """Wait for all queued work; raise the first error no read has raised yet (then forget them all)."""
        self.drain()
        with self._cv:
            errors, self._unreported = self._unreported, []
        if errors:
            raise errors[0]


ENGINE = Engine()
# fork copies only the forking thread: work queued but not yet run would never run in the child (its
# arrays would wait forever), and the worker may hold the queue's lock. Finish it before forking.
os.register_at_fork(before=ENGINE.drain)


def annotate(error: BaseException, op: str, shapes: str, line: Optional[str]) -> BaseException:
    """Name what failed, once: the queued op, its operands, the user's line that issued it."""
    if not getattr(error, "_hybrid_queued", False):
        error._hybrid_queued = True
        where = f" at {line}" if line else ""
        error.add_note(f"raised by the queued eager op {op}({shapes}){where}; hybrid runs large eager ops "
                       "asynchronously, so the error surfaces at the first read of a result "
                       "(HYBRID_ENGINE=naive runs each op when it is called)")
    return error
