"""Compiled calls in multiprocessing children: fork (the Linux default, used by DataLoader-style
workers) copies only the calling thread, so the thread team, the GEMM helper pool and any lock
held by another thread must be rebuilt in the child; spawn and forkserver start clean."""
from __future__ import annotations

import multiprocessing
import os
import threading

import numpy as onp
import pytest

from hybrid.codegen.llvm import gemm

from . import fork_worker


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_compiled_calls_in_children(method, monkeypatch):
    monkeypatch.setenv("HYBRID_NUM_THREADS", "4")      # a real team even on a small machine
    if method == "fork":
        fork_worker.compiled_sum(0)        # the parent's team and arena exist before the fork
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        got = pool.map_async(fork_worker.compiled_sum, [1, 2]).get(timeout=120)
    for seed, value in zip([1, 2], got):
        assert abs(value - fork_worker.expected_sum(seed)) <= 1e-4 * abs(fork_worker.expected_sum(seed))


def _fork_and_call(target) -> int:
    pid = os.fork()
    if pid == 0:   # child: exit status 0 when the call finished and was right
        os._exit(0 if target() else 1)
    deadline = 120
    for _ in range(deadline * 10):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        threading.Event().wait(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung")


def test_fork_while_another_thread_is_mid_call(monkeypatch):
    """Another thread holds the team (and its locks) at the moment of the fork."""
    monkeypatch.setenv("HYBRID_NUM_THREADS", "4")
    fork_worker.compiled_sum(0)
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            fork_worker.compiled_sum(0)
    worker = threading.Thread(target=busy)
    worker.start()
    try:
        codes = [_fork_and_call(lambda: abs(fork_worker.compiled_sum(5) - fork_worker.expected_sum(5))
                                < 1e-4 * abs(fork_worker.expected_sum(5))) for _ in range(3)]
    finally:
        stop.set()
        worker.join()
    assert codes == [0, 0, 0]


def test_gemm_helper_pool_after_fork():
    """The standalone GEMM's helper pool (gemm._run_threads) exists in the parent; the child gets a fresh one."""
    seen = []
    work = lambda tag, tid, n: seen.append((tag, tid, n))   # noqa: E731
    gemm._run_threads(work, ("parent",), 3)
    assert sorted(seen) == [("parent", t, 3) for t in range(3)]
    code = _fork_and_call(lambda: (gemm._run_threads(work, ("child",), 3),
                                   sorted(x for x in seen if x[0] == "child"))[1] == [("child", t, 3) for t in range(3)])
    assert code == 0


def test_fork_while_eager_work_is_queued():
    """An eager op queued on the engine's worker (held busy) when the process forks runs before the fork."""
    from hybrid import np as hnp
    from hybrid.core.engine import ENGINE, MIN_ELEMENTS
    gate = threading.Event()
    ENGINE.submit(lambda pending: gate.wait(30))
    a = onp.random.default_rng(0).standard_normal((MIN_ELEMENTS // 64, 64)).astype("float32")
    y = hnp.tanh(hnp.array(a) * 2)
    threading.Timer(0.5, gate.set).start()
    try:
        code = _fork_and_call(lambda: bool(onp.allclose(y.asnumpy(), onp.tanh(a * 2), rtol=1e-5, atol=1e-6)))
    finally:
        gate.set()
    assert code == 0
