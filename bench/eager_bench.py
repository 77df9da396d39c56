"""Eager mode side by side: AlexNet inference (224x224) run op by op in hybrid and PyTorch eager, and the
one-op call overhead on a small array (hybrid, PyTorch, NumPy).

    python -m bench.eager_bench [--batch 32] [--rounds 7]

hybrid's eager ops above the size threshold run compiled single-op kernels (frontend/eager_kernels.py);
the first two forwards compile them (reported as warm-up), the rest are timed. Same weights in both;
outputs checked against each other. Interleaved rounds and medians: the machine may be shared.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from statistics import median

import numpy

from . import machine


def hybrid_alexnet():
    from hybrid import nn

    class AlexNet(nn.HybridBlock):
        """torchvision's AlexNet (inference: no dropout)."""

        def __init__(self, classes: int = 1000):
            super().__init__()
            self.features = nn.HybridSequential()
            self.features.add(nn.Conv2D(64, 11, strides=4, padding=2, activation="relu"), nn.MaxPool2D(3, 2),
                              nn.Conv2D(192, 5, padding=2, activation="relu"), nn.MaxPool2D(3, 2),
                              nn.Conv2D(384, 3, padding=1, activation="relu"),
                              nn.Conv2D(256, 3, padding=1, activation="relu"),
                              nn.Conv2D(256, 3, padding=1, activation="relu"), nn.MaxPool2D(3, 2))
            self.fc1 = nn.Dense(4096, activation="relu")
            self.fc2 = nn.Dense(4096, activation="relu")
            self.out = nn.Dense(classes)

        def forward(self, x):
            return self.out(self.fc2(self.fc1(self.features(x))))
    return AlexNet()


def torch_alexnet(params: dict):
    import torch
    from torch import nn as tnn
    convs = [(3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)]
    layers, pools_after = [], {0, 1, 4}
    for i, (cin, cout, k, s, p) in enumerate(convs):
        layers += [tnn.Conv2d(cin, cout, k, s, p), tnn.ReLU()]
        if i in pools_after:
            layers.append(tnn.MaxPool2d(3, 2))
    model = tnn.Sequential(*layers, tnn.Flatten(), tnn.Linear(9216, 4096), tnn.ReLU(), tnn.Linear(4096, 4096),
                           tnn.ReLU(), tnn.Linear(4096, 1000))
    ours = list(params.values())                  # the same order: conv1..5 (weight, bias), fc1, fc2, out
    theirs = [p for p in model.parameters()]
    assert len(ours) == len(theirs)
    with torch.no_grad():
        for t, v in zip(theirs, ours):
            t.copy_(torch.from_numpy(v.reshape(t.shape)))
    return model.eval()


def _time(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eager_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--overhead-only", action="store_true", help="only the one-op overhead (no AlexNet)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HYBRID_NUM_THREADS", str(args.threads))
    import torch

    import hybrid as hb
    torch.set_num_threads(args.threads)
    cpu = machine.cpu_info()
    print(f"machine: {cpu['cpu']} (LLVM target {cpu['llvm_cpu']}), {cpu['cores']} cores, {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.overhead_only:
        alexnet(hb, torch, args)
    print("one-op overhead (x + 1, 4 floats): " + ", ".join(f"{k} {v:.2f} us" for k, v in one_op_overhead(hb, torch).items())
          + " (target: hybrid <= 10 us)")
    return 0


def alexnet(hb, torch, args) -> None:
    """Eager AlexNet inference, hybrid vs PyTorch eager, interleaved rounds."""

    x = numpy.random.default_rng(0).standard_normal((args.batch, 3, 224, 224), dtype=numpy.float32)
    net = hybrid_alexnet()
    net.initialize()
    net(hb.np.array(x[:1]))
    params = {k: numpy.asarray(p.data()) for k, p in net.collect_params().items()}
    tnet = torch_alexnet(params)
    xh, xt = hb.np.array(x), torch.from_numpy(x)

    def run_hybrid():
        return net(xh).asnumpy()

    def run_torch():
        with torch.inference_mode():
            return tnet(xt).numpy()

    start = time.perf_counter()
    warm = [_time(run_hybrid, 1)[0] for _ in range(2)]
    warm_s = time.perf_counter() - start
    numpy.testing.assert_allclose(run_hybrid(), run_torch(), rtol=2e-3, atol=2e-3)
    times = {"hybrid": [], "torch": []}
    for _ in range(args.rounds):                      # interleaved: both see the same machine load
        times["hybrid"] += _time(run_hybrid, 1)
        times["torch"] += _time(run_torch, 1)

    h, t = median(times["hybrid"]) * 1e3, median(times["torch"]) * 1e3
    print(f"AlexNet eager, batch {args.batch}, 3x224x224: hybrid {h:.0f} ms (median of {args.rounds}; the first two "
          f"calls, compiling, took {warm_s:.1f} s), torch eager {t:.0f} ms: ratio {h / t:.2f} (target <= 1.3)")


def one_op_overhead(hb, torch) -> dict:
    """Microseconds per `x + 1` on 4 floats: hybrid eager, PyTorch eager, NumPy, each the median over 7 interleaved
    rounds (all three see the same load) of a loop of 20000 calls, in wall time and ("... cpu") in process CPU time,
    which a loaded machine inflates less (a loop preempted mid-way keeps its wall time, not its CPU time)."""
    small = hb.np.array(numpy.ones(4, numpy.float32))
    small_t, small_n = torch.ones(4), numpy.ones(4, numpy.float32)
    n = 20000
    fns = {"hybrid": lambda: small + 1, "torch": lambda: small_t + 1, "numpy": lambda: small_n + 1}
    samples: dict = {name: ([], []) for name in fns}
    for _ in range(7):
        for name, fn in fns.items():
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            samples[name][0].append((time.perf_counter() - start) / n * 1e6)
            samples[name][1].append((time.process_time() - cpu) / n * 1e6)
    overhead = {}
    for name, (wall, cpu) in samples.items():
        overhead[name], overhead[f"{name} cpu"] = median(wall), median(cpu)
    return overhead


if __name__ == "__main__":
    sys.exit(main())
