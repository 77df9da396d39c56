"""W6 (ResNet-18, batch 8, 3x64x64) on hybrid-llvm with and without the channel-blocked layout between
convolutions (passes/conv_layout.py) and with and without Winograd (codegen/llvm/conv_winograd.py), side by
side with ONNX Runtime, in one process: the A/B behind the layout pass and the Winograd choice. The "nchw" peer
compiles with no layout rule (every direct convolution packs its own input); "no-winograd" with the layout
but the direct kernel on every 3x3 stride-1 convolution that auto gives Winograd.

    .venv/bin/python -m bench.conv_layout [--threads 2] [--rounds 9]

Peers are interleaved round by round; times are medians of the process CPU time per call (all threads' work,
not the waits for a core: the machine is shared), also wall time. Ratios: peer / ONNX Runtime (below 1: faster).
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager, nullcontext

import numpy

from . import timing, workloads


@contextmanager
def _without_layout_rule():
    """Compile with no backend layout rule: the pass leaves the graph in NCHW."""
    import hybrid.codegen as codegen
    rule = codegen.conv_layout_rule
    codegen.conv_layout_rule = lambda name: None
    try:
        yield
    finally:
        codegen.conv_layout_rule = rule


@contextmanager
def _without_winograd():
    """Compile with no convolution fit for Winograd: auto chooses as before it existed."""
    from hybrid.codegen.llvm import conv_choice
    fits = conv_choice.winograd_fits
    conv_choice.winograd_fits = lambda geo: False
    try:
        yield
    finally:
        conv_choice.winograd_fits = fits


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.conv_layout")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from hybrid.model_zoo import ResNet18
    env = workloads.Env(args.threads, {"hybrid-llvm", "onnxruntime"})
    x = numpy.random.default_rng(0).standard_normal((8, 3, 64, 64), dtype=numpy.float32)
    peers = workloads._model_peers(env, "resnet18", ResNet18, x, None)
    runners, results = {}, {}
    patches = {"nchw": _without_layout_rule, "no-winograd": _without_winograd}
    for name, setup in (("blocked", peers["hybrid-llvm"]), ("nchw", peers["hybrid-llvm"]),
                        ("no-winograd", peers["hybrid-llvm"]), ("onnxruntime", peers["onnxruntime"])):
        with patches.get(name, nullcontext)():
            result, run = timing.first_call(setup, name)
        if run is None:
            sys.exit(f"{name}: {result.error}")
        runners[name], results[name] = run, result
    ref = results["onnxruntime"].output
    for name in ("blocked", "nchw", "no-winograd"):
        numpy.testing.assert_allclose(results[name].output, ref, rtol=5e-3, atol=5e-3 * float(numpy.abs(ref).max()))
    print(f"load average {os.getloadavg()[0]:.1f}; W6, {args.threads} threads; median process CPU ms per call "
          "(wall ms)")
    timing.measure(runners, results, args.rounds, budget_s=120.0)
    ort = results["onnxruntime"]
    for name, r in results.items():
        print(f"{name:12} {r.cpu_ms:8.1f} ({r.median_ms:7.1f})   vs ORT cpu {r.cpu_ms / ort.cpu_ms:5.2f}  "
              f"wall {r.median_ms / ort.median_ms:5.2f}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
