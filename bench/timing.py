"""Timing on a noisy shared machine: interleaved rounds over the peers, medians, a wall-clock budget."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Callable, Optional


@dataclass
class Result:
    """One peer on one workload. Times are per call, in milliseconds; `error` is why it is n/a."""
    peer: str
    first_ms: Optional[float] = None
    samples: list = field(default_factory=list)
    cpu_samples: list = field(default_factory=list)   # process CPU time per call (all threads), ms
    output: Any = None
    error: Optional[str] = None
    agrees: Optional[str] = None

    @property
    def median_ms(self) -> Optional[float]:
        return median(self.samples) if self.samples else None

    @property
    def cpu_ms(self) -> Optional[float]:
        return median(self.cpu_samples) if self.cpu_samples else None

    @property
    def min_ms(self) -> Optional[float]:
        return min(self.samples) if self.samples else None


def median_ms(fn: Callable[[], Any], repeat: int, cpu: bool = False) -> float:
    """Median time of `repeat` calls of fn, in milliseconds, after one warm-up call: wall time, or
    with `cpu` the process CPU time (all threads; what a loaded shared machine distorts least)."""
    clock = time.process_time if cpu else time.perf_counter
    fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append((clock() - start) * 1e3)
    return median(times)


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:150] if text else ''}"


def first_call(setup: Callable[[], Callable[[], Any]], name: str) -> tuple[Result, Optional[Callable]]:
    """Build a peer and time its first result (build + first call: tracing, compiling, exporting)."""
    result = Result(name)
    try:
        start = time.perf_counter()
        run = setup()
        result.output = run()
        result.first_ms = (time.perf_counter() - start) * 1e3
        return result, run
    except Exception as exc:  # the suite reports n/a with the reason instead of stopping
        result.error = reason(exc)
        return result, None


def measure(runners: dict[str, Callable], results: dict[str, Result], rounds: int, budget_s: float,
            min_sample_s: float = 2e-3) -> None:
    """Round-robin over the peers, `rounds` samples each (fewer when a peer exceeds `budget_s`). A sample
    repeats short calls until it lasts `min_sample_s`, so per-call overhead is measurable."""
    inner, spent, failed = {}, {}, set()
    for name, run in runners.items():
        start = time.perf_counter()
        run()
        once = max(time.perf_counter() - start, 1e-7)
        inner[name] = max(1, int(min_sample_s / once))
        spent[name] = 0.0
    for r in range(rounds):
        for name, run in runners.items():
            if name in failed or (r >= 3 and spent[name] > budget_s):
                continue
            try:
                start, cpu_start = time.perf_counter(), time.process_time()
                for _ in range(inner[name]):
                    run()
                elapsed = time.perf_counter() - start
                cpu = time.process_time() - cpu_start
            except Exception as exc:
                results[name].error = reason(exc)
                results[name].samples.clear()
                results[name].cpu_samples.clear()
                failed.add(name)
                continue
            spent[name] += elapsed
            results[name].samples.append(elapsed / inner[name] * 1e3)
            results[name].cpu_samples.append(cpu / inner[name] * 1e3)
