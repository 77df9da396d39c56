"""Concurrent groups (passes/concurrent_groups.py) side by side vs in order, on hybrid-llvm, in one process:
an Inception block (GoogLeNet's 3a at batch 1, and a small one whose kernels are too small to split), a
ResNet downsampling block (W6's first stride-2 block) and W6 itself (ResNet-18, batch 8, 3x64x64).

    .venv/bin/python -m bench.concurrent_groups [--threads 2] [--rounds 9] [--calls 5]

Each workload is compiled three times from the same weights: HYBRID_CONCURRENT_GROUPS=off (in order), on
(side by side) and auto (the per-graph measured choice, codegen/schedule_choice.py, whose decision is
printed). Off and on are interleaved round by round (the order alternating); times are medians over the
rounds of the mean process CPU time per call (all threads' work) and of the mean wall time per call.
Ratios: on / off (below 1: side by side is faster). The outputs of off and on must agree bit for bit.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from statistics import median

import numpy

from . import machine, workloads


def _blocks() -> list:
    from hybrid.model_zoo import ResNet18
    from hybrid.model_zoo.cnn import BasicBlock, InceptionBlock
    rng = numpy.random.default_rng(0)
    x = lambda *shape: rng.standard_normal(shape, dtype=numpy.float32)   # noqa: E731
    return [
        ("inception 3a, 1x192x28x28", lambda: InceptionBlock(64, (96, 128), (16, 32), 32), x(1, 192, 28, 28)),
        ("inception small, 8x16x16x16", lambda: InceptionBlock(), x(8, 16, 16, 16)),
        ("resnet block 64->128 /2, 8x64x32x32", lambda: BasicBlock(128, 2, 64), x(8, 64, 32, 32)),
        ("W6 resnet-18, 8x3x64x64", lambda: ResNet18(), x(8, 3, 64, 64)),
    ]


class _Decisions(logging.Handler):
    """Collects the schedule choices hybrid logs (category compile)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "concurrent region" in text:
            self.lines.append(text)


def _build(hb, ctor, params, x, mode: str, threads: int):
    with hb.config(concurrent_groups=mode, num_threads=threads):
        run = workloads._hybrid_block(ctor, params, x, "llvm")()
        out = run()
    return run, out


def _time(run, calls: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call, mean over `calls` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        run()
    return (time.process_time() - cpu) * 1e3 / calls, (time.perf_counter() - wall) * 1e3 / calls


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated workload name prefixes")
    args = ap.parse_args(argv)
    import hybrid as hb
    from hybrid.codegen import schedule_choice
    decisions = _Decisions()
    logging.getLogger("hybrid").addHandler(decisions)
    logging.getLogger("hybrid").setLevel(logging.DEBUG)
    info = machine.cpu_info()
    print(f"# {info['cpu']} ({info['llvm_cpu']}, {info['vector_flags']}), {info['cores']} cores, "
          f"threads {args.threads}, load {os.getloadavg()[0]:.1f}")
    print(f"{'workload':<38}{'regions':>8}{'cpu off':>10}{'cpu on':>10}{'ratio':>7}{'wall off':>10}{'wall on':>10}"
          f"{'ratio':>7}  auto")
    for name, ctor, x in _blocks():
        if args.only and not any(name.startswith(p) for p in args.only.split(",")):
            continue
        hb.random.seed(0)
        net = ctor()
        net.initialize()
        net(hb.np.array(x[:1]))
        params = {k: p.data().asnumpy() for k, p in net.collect_params().items()}
        runs, outs = {}, {}
        for mode in ("off", "on", "auto"):
            decisions.lines.clear()
            runs[mode], outs[mode] = _build(hb, ctor, params, x, mode, args.threads)
        for _ in range(2 * schedule_choice.TRIALS + 4):   # auto's measuring calls
            runs["auto"]()
        auto = decisions.lines[-1].split(" region(s) ")[-1] if decisions.lines else "no concurrent regions"
        regions = decisions.lines[-1].split(" runs its ")[-1].split(" ")[0] if decisions.lines else "0"
        same = outs["off"].tobytes() == outs["on"].tobytes()
        samples: dict = {"off": [], "on": []}
        for r in range(args.rounds):
            for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
                samples[mode].append(_time(runs[mode], args.calls))
        cpu = {m: median(s[0] for s in samples[m]) for m in samples}
        wall = {m: median(s[1] for s in samples[m]) for m in samples}
        print(f"{name:<38}{regions:>8}{cpu['off']:>10.3f}{cpu['on']:>10.3f}{cpu['on'] / cpu['off']:>7.2f}"
              f"{wall['off']:>10.3f}{wall['on']:>10.3f}{wall['on'] / wall['off']:>7.2f}  {auto}"
              f"{'' if same else '  OUTPUTS DIFFER'}")
        sys.stdout.flush()
    print(f"# load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
