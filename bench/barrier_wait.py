"""The generated barrier's waiting (codegen/llvm/support.barrier_ir): spin, yield, then sleep on a futex, against
the barrier before it (spin, then yield for as long as it waits), on hybrid-llvm, in one process.

    .venv/bin/python -m bench.barrier_wait [--threads 2] [--rounds 9] [--calls 3]

Each workload is compiled twice from the same weights, the second time with support.YIELDS so large that a
waiter never sleeps (the old barrier), both with HYBRID_CONCURRENT_GROUPS=off (the same kernels in order).
Rounds interleave the two (the order alternating); times are medians over rounds of the mean process CPU time
per call (all threads: what spinning waiters burn) and of the mean wall time per call. Ratio: futex / spin.
"""
from __future__ import annotations

import argparse
import os
from statistics import median

import numpy

from . import machine
from .concurrent_groups import _build, _time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=3)
    args = ap.parse_args(argv)
    import hybrid as hb
    from hybrid.codegen import llvm as llvm_backend
    from hybrid.codegen.llvm import support
    from hybrid.model_zoo import LeNet5, ResNet18
    rng = numpy.random.default_rng(0)
    info = machine.cpu_info()
    print(f"# {info['cpu']} ({info['llvm_cpu']}), {info['cores']} cores, threads {args.threads}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'workload':<30}{'cpu spin':>10}{'cpu futex':>10}{'ratio':>7}{'wall spin':>10}{'wall futex':>11}{'ratio':>7}")
    for name, ctor, x in (("W6 resnet-18, 8x3x64x64", ResNet18, rng.standard_normal((8, 3, 64, 64), numpy.float32)),
                          ("W2 lenet-5, 64x1x28x28", LeNet5, rng.standard_normal((64, 1, 28, 28), numpy.float32))):
        hb.random.seed(0)
        net = ctor()
        net.initialize()
        net(hb.np.array(x[:1]))
        params = {k: p.data().asnumpy() for k, p in net.collect_params().items()}
        runs = {}
        yields = support.YIELDS
        for kind, n in (("futex", yields), ("spin", 1 << 30)):
            support.YIELDS = n
            llvm_backend._runtime_object.cache_clear()   # the JIT links the barrier from this shared object
            try:
                runs[kind], _ = _build(hb, ctor, params, x, "off", args.threads)
            finally:
                support.YIELDS = yields
                llvm_backend._runtime_object.cache_clear()
        samples: dict = {"spin": [], "futex": []}
        for r in range(args.rounds):
            for kind in (("spin", "futex") if r % 2 == 0 else ("futex", "spin")):
                samples[kind].append(_time(runs[kind], args.calls))
        cpu = {k: median(s[0] for s in v) for k, v in samples.items()}
        wall = {k: median(s[1] for s in v) for k, v in samples.items()}
        print(f"{name:<30}{cpu['spin']:>10.2f}{cpu['futex']:>10.2f}{cpu['futex'] / cpu['spin']:>7.2f}"
              f"{wall['spin']:>10.2f}{wall['futex']:>11.2f}{wall['futex'] / wall['spin']:>7.2f}", flush=True)
    print(f"# load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
