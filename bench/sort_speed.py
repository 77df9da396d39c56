"""Compiled (llvm) sort and argsort against NumPy and PyTorch, measured in the same run.

    python -m bench.sort_speed [--repeat 7]

Rows of 32 elements or more sort by an LSD radix sort (hybrid/codegen/llvm/sort.py), shorter
rows by the merge sort. NumPy is timed with kind="stable" (hybrid's order: ties by index) and
with its default (an introsort, AVX-512 accelerated where the CPU has it); PyTorch with
stable=True. Medians of process CPU time (all threads) of `--repeat` calls after one warm-up; the
first hybrid call (trace and compile, or a cache hit) is not timed. `--only TEXT` runs the cases
whose name contains TEXT.
"""
from __future__ import annotations

import argparse

import numpy

import hybrid as hb
from hybrid import np

from .timing import median_ms

try:
    import torch
except ImportError:      # the PyTorch column is optional
    torch = None


def cases():
    rng = numpy.random.default_rng(3)
    f32 = rng.standard_normal(1_000_000).astype(numpy.float32)
    return [
        ("sort 1M f32", "sort", f32),
        ("argsort 1M f32", "argsort", f32),
        ("sort 1M i32", "sort", rng.integers(-2**31, 2**31 - 1, 1_000_000, dtype=numpy.int32)),
        ("sort 1M f64", "sort", rng.standard_normal(1_000_000)),
        ("argsort 1M f64", "argsort", rng.standard_normal(1_000_000)),
        ("sort 1M i64", "sort", rng.integers(-2**63, 2**63 - 1, 1_000_000, dtype=numpy.int64)),
        ("argsort 1M i64", "argsort", rng.integers(-2**40, 2**40, 1_000_000, dtype=numpy.int64)),
        ("sort rows 512x256 f32", "sort", f32[:512 * 256].reshape(512, 256)),
        ("argsort rows 4096x64 f32", "argsort", f32[:4096 * 64].reshape(4096, 64)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    args = parser.parse_args()
    print("median process CPU ms; ratios hybrid / NumPy")
    print(f"{'case':<26} {'hybrid':>8} {'np stable':>10} {'np default':>11} {'torch':>8} {'/stable':>8} {'/default':>9}")
    for name, kind, data in cases():
        if args.only not in name:
            continue
        fn = getattr(np, kind)
        compiled = hb.hybridize(lambda v, fn=fn: fn(v, axis=-1), backend="llvm")
        arg = np.array(data)
        got = compiled(arg).asnumpy()
        ref = getattr(numpy, kind)
        numpy.testing.assert_array_equal(got, ref(data, axis=-1, kind="stable"))
        ours = median_ms(lambda: compiled(arg).asnumpy(), args.repeat, cpu=True)
        stable = median_ms(lambda: ref(data, axis=-1, kind="stable"), args.repeat, cpu=True)
        default = median_ms(lambda: ref(data, axis=-1), args.repeat, cpu=True)
        if torch is not None:
            t = torch.from_numpy(data)
            pt = median_ms(lambda: torch.sort(t, dim=-1, stable=True), args.repeat, cpu=True)
        else:
            pt = float("nan")
        print(f"{name:<26} {ours:>8.2f} {stable:>10.2f} {default:>11.2f} {pt:>8.2f} {ours / stable:>8.2f} "
              f"{ours / default:>9.2f}")


if __name__ == "__main__":
    main()
