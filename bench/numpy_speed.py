"""Speed of hb.np's NumPy breadth, measured against NumPy and PyTorch in the same run.

    python -m bench.numpy_speed [--repeat N] [--quick] [--compiled-only]

1. Eager: new functions on 1M-element float32 inputs, hb.np vs NumPy (target: within 2x).
2. Compiled (llvm): sort, argsort, top-k, cumsum, einsum, svd/eigh (LAPACK from the compiled code)
   and FFTs (complex: DFT products, Cooley-Tukey steps, chirp-z) as hybridized functions vs NumPy and PyTorch eager, with the first call's time (trace + compile, unless the compiled-code cache has it).

Medians of --repeat timed calls after a warm-up; ratios are hybrid / peer (below 1: hybrid is
faster). The machine may be shared: the figures are noisy, and the ratios (measured
back to back) are the part to read.
"""
from __future__ import annotations

import argparse
import time

import numpy

import hybrid as hb
from hybrid import np

from .timing import median_ms

try:
    import torch
except ImportError:
    torch = None


def eager_rows(repeat: int, n: int):
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(n).astype(numpy.float32)
    y = rng.standard_normal(n).astype(numpy.float32)
    p = rng.uniform(-0.9, 0.9, n).astype(numpy.float32)
    ix = rng.integers(0, 1 << 30, n).astype(numpy.int32)
    iy = rng.integers(0, 1 << 30, n).astype(numpy.int32)
    hx, hy, hp, hix, hiy = np.array(x), np.array(y), np.array(p), np.array(ix), np.array(iy)
    cases = [
        ("arcsin", lambda: np.arcsin(hp), lambda: numpy.arcsin(p)),
        ("arctan2", lambda: np.arctan2(hx, hy), lambda: numpy.arctan2(x, y)),
        ("hypot", lambda: np.hypot(hx, hy), lambda: numpy.hypot(x, y)),
        ("logaddexp", lambda: np.logaddexp(hx, hy), lambda: numpy.logaddexp(x, y)),
        ("log1p", lambda: np.log1p(hp), lambda: numpy.log1p(p)),
        ("cbrt", lambda: np.cbrt(hx), lambda: numpy.cbrt(x)),
        ("sort", lambda: np.sort(hx), lambda: numpy.sort(x, kind="stable")),
        ("argsort", lambda: np.argsort(hx), lambda: numpy.argsort(x, kind="stable")),
        ("cumsum", lambda: np.cumsum(hx), lambda: numpy.cumsum(x)),
        ("median", lambda: np.median(hx), lambda: numpy.median(x)),
        ("nansum", lambda: np.nansum(hx), lambda: numpy.nansum(x)),
        ("quantile", lambda: np.quantile(hx, 0.9), lambda: numpy.quantile(x, 0.9)),
        ("searchsorted", lambda: np.searchsorted(np.sort(hx), hy), lambda: numpy.searchsorted(numpy.sort(x), y)),
        ("roll", lambda: np.roll(hx, 7), lambda: numpy.roll(x, 7)),
        ("isclose", lambda: np.isclose(hx, hy), lambda: numpy.isclose(x, y)),
        ("take_along_axis", lambda: np.take_along_axis(hx, np.argsort(hx), 0),
         lambda: numpy.take_along_axis(x, numpy.argsort(x, kind="stable"), 0)),
        ("x[x > 0]", lambda: hx[hx > 0], lambda: x[x > 0]),
        ("bitwise_and (int32)", lambda: hb.np.bitwise_and(hix, hiy), lambda: numpy.bitwise_and(ix, iy)),
    ]
    for name, ours, theirs in cases:
        a, b = median_ms(ours, repeat), median_ms(theirs, repeat)
        yield name, a, b


def compiled_rows(repeat: int):
    rng = numpy.random.default_rng(1)
    rows = rng.standard_normal((512, 256)).astype(numpy.float32)
    mats = rng.standard_normal((64, 64, 64)).astype(numpy.float32)
    sym = mats[:16] + numpy.swapaxes(mats[:16], -1, -2)
    signal = (rows + 1j * rows[::-1]).astype(numpy.complex64)
    cases = [
        # LAPACK (?gesdd / ?syevd of scipy-openblas32) called from the compiled code; NumPy: its own OpenBLAS
        ("svdvals 16x64x64", lambda v: np.linalg.svdvals(v), mats[:16], lambda v: numpy.linalg.svd(v, compute_uv=False),
         (lambda t: torch.linalg.svdvals(t)) if torch else None),
        ("eigh 16x64x64 (values)", lambda v: np.linalg.eigvalsh(v), sym, lambda v: numpy.linalg.eigvalsh(v),
         (lambda t: torch.linalg.eigvalsh(t)) if torch else None),
        # compiled FFTs: Cooley-Tukey steps of DFT products (256 = 16 x 16); NumPy: pocketfft
        ("|fft| rows 512x256 c64", lambda v: np.abs(np.fft.fft(v)), signal, lambda v: numpy.abs(numpy.fft.fft(v)),
         (lambda t: torch.fft.fft(t).abs()) if torch else None),
        ("irfft(rfft) rows 512x256", lambda v: np.fft.irfft(np.fft.rfft(v), n=256), rows,
         lambda v: numpy.fft.irfft(numpy.fft.rfft(v), n=256), (lambda t: torch.fft.irfft(torch.fft.rfft(t), n=256))
         if torch else None),
        ("sort rows 512x256", lambda v: np.sort(v, axis=-1), rows, lambda v: numpy.sort(v, axis=-1),
         (lambda t: torch.sort(t, dim=-1).values) if torch else None),
        ("argsort rows 512x256", lambda v: np.argsort(v, axis=-1), rows,
         lambda v: numpy.argsort(v, axis=-1, kind="stable"), (lambda t: torch.sort(t, dim=-1, stable=True).indices)
         if torch else None),
        ("top-8 values rows 512x256", lambda v: hb.npx.topk(v, k=8, ret_typ="value"), rows,
         lambda v: -numpy.sort(-v, axis=-1)[:, :8], (lambda t: torch.topk(t, 8, dim=-1).values) if torch else None),
        ("cumsum rows 512x256", lambda v: np.cumsum(v, axis=-1), rows, lambda v: numpy.cumsum(v, axis=-1),
         (lambda t: torch.cumsum(t, dim=-1)) if torch else None),
        ("einsum bij,bjk->bik 64^3", lambda v: np.einsum("bij,bjk->bik", v, v), mats,
         lambda v: numpy.einsum("bij,bjk->bik", v, v), (lambda t: torch.einsum("bij,bjk->bik", t, t)) if torch else None),
    ]
    for name, fn, data, ref, tref in cases:
        compiled = hb.hybridize(fn, backend="llvm")
        arg = np.array(data)
        start = time.perf_counter()
        out = compiled(arg)     # the first call traces and compiles (or loads the compiled-code cache)
        first_s = time.perf_counter() - start
        numpy.testing.assert_allclose(out.asnumpy(), ref(data), rtol=1e-3, atol=2e-3)
        ours = median_ms(lambda: compiled(arg).asnumpy(), repeat)
        theirs = median_ms(lambda: ref(data), repeat)
        tt = torch.from_numpy(data) if torch else None
        pt = median_ms(lambda: tref(tt), repeat) if torch else float("nan")
        yield name, ours, theirs, pt, first_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="100k elements, 5 repeats")
    parser.add_argument("--compiled-only", action="store_true", help="only the compiled (llvm) rows")
    args = parser.parse_args()
    n, repeat = (100_000, 5) if args.quick else (1_000_000, args.repeat)
    if not args.compiled_only:
        print(f"eager, {n} float32 elements: median ms (hybrid / NumPy)")
        print(f"{'function':<22} {'hybrid':>9} {'NumPy':>9} {'ratio':>7}")
        for name, a, b in eager_rows(repeat, n):
            print(f"{name:<22} {a:>9.2f} {b:>9.2f} {a / b:>7.2f}")
    print("\ncompiled (llvm) vs NumPy and PyTorch eager: median ms")
    print(f"{'workload':<28} {'hybrid':>9} {'NumPy':>9} {'torch':>9} {'/NumPy':>7} {'/torch':>7} {'1st call s':>10}")
    for name, ours, theirs, pt, first_s in compiled_rows(repeat):
        print(f"{name:<28} {ours:>9.2f} {theirs:>9.2f} {pt:>9.2f} {ours / theirs:>7.2f} {ours / pt:>7.2f} "
              f"{first_s:>10.1f}")


if __name__ == "__main__":
    main()
