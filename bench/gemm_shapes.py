"""Generated GEMM vs the OpenBLAS lowering on the shapes the zoo models produce: the measurement behind
hybrid_sgemm's impl="auto" choice (gemm._prefer_openblas).

    .venv/bin/python -m bench.gemm_shapes [--threads N] [--repeats R] [--narrow]

Both run through hybrid_sgemm with the same thread split, called natively in a loop (no Python per call, so
small shapes measure the kernel, not the wrapper); each shape alternates the two implementations `repeats`
times and keeps the best time of each. On a shared machine wall time mostly measures the other
jobs, so by default the time is the process's CPU time (time.process_time: all threads' work, not the waits
for a core); GFLOP/s are then per busy core-second times the thread count. --wall uses wall-clock time.
--narrow runs the outputs narrower than the register tile instead (M x N x K = rows x 6-48 x 25-1024, B
transposed as a dense layer's weight): the shape class where `gemm._prefer_openblas` picks OpenBLAS.
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import numpy

# (label, M, N, K, trans_b) as the LLVM backend issues them: dense layers x @ W^T (trans_b); attention per
# (batch, head); convolutions per image as W[Cout, C*KH*KW] @ im2col[C*KH*KW, OH*OW].
SHAPES = [
    ("sgemm 1024^3", 1024, 1024, 1024, False),
    ("W1 fc1", 256, 1024, 784, True), ("W1 fc2", 256, 1024, 1024, True), ("W1 out", 256, 10, 1024, True),
    ("W5 qkv", 1024, 768, 256, True), ("W5 proj", 1024, 256, 256, True), ("W5 fc1", 1024, 1024, 256, True),
    ("W5 fc2", 1024, 256, 1024, True), ("W5 q@k^T", 128, 128, 64, True), ("W5 attn@v", 128, 64, 128, False),
    ("W2 conv1", 6, 784, 25, False), ("W2 conv2", 16, 100, 150, False), ("W2 fc1", 64, 120, 400, True),
    ("W6 stem", 64, 4096, 27, False), ("W6 stage1", 64, 4096, 576, False), ("W6 stage2", 128, 1024, 1152, False),
    ("W6 stage3", 256, 256, 2304, False), ("W6 stage4", 512, 64, 4608, False), ("W6 1x1 down", 256, 256, 128, False),
    ("W2 conv1 (NHWC)", 50176, 6, 25, True), ("W6 stage1 (NHWC)", 32768, 64, 576, True),
]


# x @ W^T with N below the AVX-512 tile's 64 columns (and AVX2's 16)
NARROW = [(f"narrow M={M} N={N}", M, N, K, True) for M in (64, 128, 256, 512) for N in (6, 10, 32, 48)
          for K in (25, 256, 1024)]


def native_runner(gemm, impl: str, a, b, out, trans_b: bool, threads: int, calls: int):
    """Run hybrid_sgemm `calls` times with no Python per call: each thread loops over its own tid (the parts
    are independent, so no barrier is needed between repetitions)."""
    fn, _, _ = gemm.compile_standalone(impl)
    M, N = out.shape
    args = (M, N, a.shape[1], a.ctypes.data, a.shape[1], 0, b.ctypes.data, b.shape[1], int(trans_b),
            out.ctypes.data, N, gemm._EPILOGUE_CTYPE(), None)

    def loop(tid):
        for _ in range(calls):
            fn(*args, tid, threads)

    def run():
        workers = [threading.Thread(target=loop, args=(tid,)) for tid in range(1, threads)]
        for w in workers:
            w.start()
        loop(0)
        for w in workers:
            w.join()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gemm_shapes")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    parser.add_argument("--narrow", action="store_true", help="the narrow-output shapes instead of the zoo's")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    scale = 1 if args.wall else args.threads
    from hybrid.codegen.llvm import gemm
    rng = numpy.random.default_rng(0)
    print(f"threads={args.threads}; best of {args.repeats}; GFLOP/s from {'wall' if args.wall else 'CPU'} time")
    print(f"{'shape':22} {'M':>6} {'N':>5} {'K':>5} {'generated':>10} {'openblas':>9} {'gen/blas':>9}")
    for label, M, N, K, trans_b in (NARROW if args.narrow else SHAPES):
        a = rng.standard_normal((M, K), dtype=numpy.float32)
        b = rng.standard_normal((N, K) if trans_b else (K, N), dtype=numpy.float32)
        out = numpy.empty((M, N), numpy.float32)
        calls = max(1, int(3e7 / (M * N * K)))      # about 60 MFLOP per sample: small shapes loop natively
        runners = {impl: native_runner(gemm, impl, a, b, out, trans_b, args.threads, calls)
                   for impl in ("generated", "openblas")}
        times = {impl: float("inf") for impl in runners}
        for run in runners.values():
            run()
        for _ in range(args.repeats):      # alternate so both see the same background load
            for impl, run in runners.items():
                start = clock()
                run()
                times[impl] = min(times[impl], (clock() - start) / calls)
        flops = 2.0 * M * N * K * scale
        gen, blas = (flops / times[i] / 1e9 for i in ("generated", "openblas"))
        print(f"{label:22} {M:6} {N:5} {K:5} {gen:10.1f} {blas:9.1f} {gen / blas:9.2f}")


if __name__ == "__main__":
    main()
