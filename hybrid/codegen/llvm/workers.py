"""Compile worker processes: LLVM work on several cores at once.

llvmlite works in LLVM's one global context behind one lock (target.LLVM_LOCK), so threads of one process
cannot compile in parallel. A worker is a separate Python process running objcode.py by path: llvmlite and the
standard library only, ready in a fraction of a second where importing hybrid takes seconds. It takes IR text
and returns object code (objcode.py has the protocol); the engine links the objects as it links the GEMM's.

- `compile_all(jobs)`: the calling thread and up to `compile_workers` workers (HYBRID_COMPILE_WORKERS) compile
  the jobs, each taking the costliest job left; the objects come back in the jobs' order.
- `background(job)`: one job compiled while the caller goes on (the GEMM module beside the front end's Python
  work); `.result()` waits for it. Without a worker it runs on a thread of this process, where LLVM releases
  the GIL, so it still overlaps Python work.
- A worker that cannot start, dies or answers out of step is logged with the reason (HYBRID_LOG=compile) and
  its jobs are compiled in this process; a start that failed is not retried in this process.
- Workers stay up for later compiles and end with the process; `shutdown()` ends them now (bench.warmstart
  does, to count their CPU time). A forked child starts without workers: the pipes are its parent's.
"""
from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from ...config import config
from ... import log
from . import target

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "objcode.py")


@dataclass(frozen=True)
class Job:
    ir: str
    name: str        # for the log
    cost: int = 0    # estimated (partition.cost); the costliest jobs are taken first
    pic: bool = False
    level: int = 3


class WorkerLost(Exception):
    """The worker process failed (not the compile: an IR error comes back as RuntimeError)."""


class _Worker:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.cpu_s = 0.0

    def compile(self, job: Job) -> bytes:
        triple, cpu, features = target.host()
        ir = job.ir.encode()
        header = {"triple": triple, "cpu": cpu, "features": features, "pic": job.pic, "asm": False,
                  "level": job.level, "ir": len(ir)}
        try:
            self.proc.stdin.write(json.dumps(header).encode() + b"\n" + ir)
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            reply = json.loads(line) if line else None
        except (OSError, ValueError) as e:   # a closed pipe: the worker has ended
            raise WorkerLost(f"{self._death()} ({type(e).__name__})") from None
        if reply is None:
            raise WorkerLost(self._death())
        if not reply["ok"]:
            if reply["error"].startswith("bad request"):
                raise WorkerLost(reply["error"])
            raise RuntimeError(f"llvm: compiling {job.name} in a worker process failed: {reply['error']}")
        obj = self.proc.stdout.read(reply["obj"])
        if len(obj) != reply["obj"]:
            raise WorkerLost(f"{self._death()} in the middle of a reply")
        self.cpu_s = reply["cpu_s"]
        return obj

    def _death(self) -> str:
        try:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            err = b""
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        return f"exited with status {self.proc.returncode}" + (f": {lines[-1][:300]}" if lines else "")

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()


_lock = threading.Lock()
_idle: list[_Worker] = []
_failed: Optional[str] = None    # why a worker could not start: then none is started again


def _take(n: int) -> list[_Worker]:
    """Up to n workers, started as needed; fewer (logged) when they cannot start."""
    global _failed
    got = []
    with _lock:
        while _idle and len(got) < n:
            got.append(_idle.pop())
        while len(got) < n and _failed is None:
            try:
                got.append(_Worker())
            except OSError as e:
                _failed = f"{type(e).__name__}: {e}"
                log.log("compile", f"llvm: cannot start a compile worker ({sys.executable} {SCRIPT}): {_failed}; "
                                   "compiling in this process only")
    return got


def _give_back(worker: _Worker) -> None:
    with _lock:
        _idle.append(worker)


def wanted() -> int:
    """How many workers compiles may use (the compile_workers setting)."""
    return config.get("compile_workers")


def _local(job: Job) -> bytes:
    return target.compile_ir(job.ir, pic=job.pic, name=job.name, level=job.level)[0]


def _remote(worker: Optional[_Worker], job: Job) -> tuple[Optional[_Worker], bytes]:
    """Compile on `worker`; on its failure (logged) in this process. Returns the worker if still usable."""
    if worker is not None:
        try:
            obj = worker.compile(job)
            log.log("compile", f"llvm: compiled {job.name} ({len(job.ir) // 1024} KiB IR, O{job.level}) in a worker")
            return worker, obj
        except WorkerLost as why:
            log.log("compile", f"llvm: compile worker {worker.proc.pid} lost ({why}); compiling {job.name} "
                               "in this process")
    return None, _local(job)


def compile_all(jobs: list[Job]) -> list[bytes]:
    """Object code of every job, compiled by this thread and up to wanted() workers at once."""
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].cost)
    results: list[Optional[bytes]] = [None] * len(jobs)
    errors: list[BaseException] = []
    pick = threading.Lock()

    def next_job() -> Optional[int]:
        with pick:
            return order.pop(0) if order and not errors else None

    def drive(worker: Optional[_Worker]) -> None:
        try:
            while (i := next_job()) is not None:
                worker, results[i] = _remote(worker, jobs[i]) if worker is not None else (None, _local(jobs[i]))
        except BaseException as e:   # re-raised by the calling thread
            errors.append(e)
        finally:
            if worker is not None:
                _give_back(worker)
    threads = [threading.Thread(target=drive, args=(w,), name="hybrid-compile", daemon=True)
               for w in _take(min(wanted(), len(jobs) - 1))]
    for t in threads:
        t.start()
    try:
        while (i := next_job()) is not None:
            results[i] = _local(jobs[i])
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return results


class Background:
    """One job compiling while the caller goes on."""

    def __init__(self, job: Job, done: Callable[[bytes], None]):
        self.job, self.done = job, done
        self.obj: Optional[bytes] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="hybrid-compile", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        workers = _take(min(wanted(), 1))
        worker = workers[0] if workers else None
        try:
            worker, self.obj = _remote(worker, self.job)
            self.done(self.obj)
        except BaseException as e:   # re-raised by result()
            self.error = e
        finally:
            if worker is not None:
                _give_back(worker)

    def result(self) -> bytes:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.obj


def background(job: Job, done: Callable[[bytes], None]) -> Background:
    """Start compiling `job`; `done(obj)` runs on success (e.g. storing it in the cache)."""
    return Background(job, done)


def shutdown() -> None:
    """End the idle workers (a running compile keeps its worker until it returns it)."""
    with _lock:
        idle = list(_idle)
        _idle.clear()
    for w in idle:
        w.close()


def _forget_in_child() -> None:
    global _lock, _idle
    _lock = threading.Lock()
    _idle = []


atexit.register(shutdown)
os.register_at_fork(after_in_child=_forget_in_child)
