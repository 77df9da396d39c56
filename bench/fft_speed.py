"""Compiled (llvm) FFTs of lengths with a large prime factor against NumPy (pocketfft), one run.

    python -m bench.fft_speed [--repeat 7]

Lengths past passes/fourier.CHIRP_MIN without factors up to RADIX_MAX run Bluestein's chirp-z
transform (two power-of-two transforms); `direct` is the same length compiled as the n x n DFT
product that replaced it (fourier.CHIRP_MIN raised for that compile: the O(n^2) code), timed
where its matrix stays small. A power of two of similar size shows the Cooley-Tukey steps alone.
Medians of process CPU time (all threads) of `--repeat` calls after a warm-up; rows of 8
complex64 transforms. Also checks each result against numpy.fft (relative to the largest term).
"""
from __future__ import annotations

import argparse

import numpy

import hybrid as hb
from hybrid import np
from hybrid.passes import fourier

from .timing import median_ms

ROWS = 8


def compiled_fft(n: int, chirp_min: int):
    """hb.np.fft.fft over rows of length n compiled for llvm with fourier.CHIRP_MIN = chirp_min."""
    saved = fourier.CHIRP_MIN
    fourier.CHIRP_MIN = chirp_min
    try:
        fn = hb.hybridize(lambda z: np.fft.fft(z), backend="llvm")
        data = np.array(numpy.ones((ROWS, n), numpy.complex64))
        fn(data)              # trace and compile under this setting
    finally:
        fourier.CHIRP_MIN = saved
    return fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = numpy.random.default_rng(0)
    print(f"process CPU ms per call, {ROWS} rows complex64; ratios hybrid / NumPy")
    print(f"{'length':<16} {'chirp-z':>8} {'direct':>8} {'numpy':>8} {'chirp/np':>9} {'direct/np':>10} {'rel err':>8}")
    for n, label in ((1009, "1009 (prime)"), (2 * 1009, "2018 (2 x prime)"), (4099, "4099 (prime)"),
                     (10007, "10007 (prime)"), (4096, "4096 (2^12)")):
        z = (rng.standard_normal((ROWS, n)) + 1j * rng.standard_normal((ROWS, n))).astype(numpy.complex64)
        arg = np.array(z)
        want = numpy.fft.fft(z)
        fast = compiled_fft(n, fourier.CHIRP_MIN)
        err = float(numpy.abs(fast(arg).asnumpy() - want).max() / numpy.abs(want).max())
        ours = median_ms(lambda: fast(arg).asnumpy(), args.repeat, cpu=True)
        ref = median_ms(lambda: numpy.fft.fft(z), args.repeat, cpu=True)
        if n <= 2018:
            slow = compiled_fft(n, n)
            direct = median_ms(lambda: slow(arg).asnumpy(), args.repeat, cpu=True)
        else:
            direct = float("nan")
        print(f"{label:<16} {ours:>8.2f} {direct:>8.2f} {ref:>8.2f} {ours / ref:>9.2f} {direct / ref:>10.2f} "
              f"{err:>8.1e}")


if __name__ == "__main__":
    main()
