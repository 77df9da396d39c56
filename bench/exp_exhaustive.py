"""Every float32 input of the LLVM backend's exp against float64 NumPy: the largest error in ulp.

    python -m bench.exp_exhaustive

walks all float32 in [-104, 89] (about 2.2e9 values; outside, exp is inf or 0, tested exactly by
tests/codegen/test_llvm_math.py) in blocks of 2^24 through one compiled exp kernel. An ulp is the float32
spacing at the exact result (at least that of the smallest normal float, so denormal results count in
units of 2^-149). Takes ~10 minutes of CPU; the bound it found is the one test_llvm_math.py states.
"""
from __future__ import annotations

import time

import numpy

BLOCK = 1 << 24
TINY = numpy.float32(1.1754943508222875e-38)


FULL = ((0, int(numpy.float32(89).view(numpy.uint32))), (0x80000000, int(numpy.float32(-104).view(numpy.uint32))))


def max_error(ranges=FULL, block: int = BLOCK) -> tuple[float, float]:
    """(largest error in ulp, the input where it occurs) over the float32 bit patterns of `ranges`."""
    import hybrid as hb
    exp = hb.hybridize(lambda x: hb.np.exp(x), backend="llvm")
    worst, at = 0.0, float("nan")
    for first, last in ranges:
        for lo in range(first, last + 1, block):
            x = numpy.arange(lo, min(lo + block, last + 1), dtype=numpy.uint64).astype(numpy.uint32).view(numpy.float32)
            got = numpy.asarray(exp(hb.np.array(x))).astype(numpy.float64)
            with numpy.errstate(over="ignore"):
                ref = numpy.exp(x.astype(numpy.float64))
                ref32 = ref.astype(numpy.float32)
            spacing = numpy.spacing(numpy.maximum(ref32, TINY)).astype(numpy.float64)
            with numpy.errstate(invalid="ignore"):
                ulp = numpy.where(numpy.isfinite(ref32), numpy.abs(got - ref) / spacing, 0.0)
            i = int(numpy.argmax(ulp))
            if ulp[i] > worst:
                worst, at = float(ulp[i]), float(x[i])
    return worst, at


def main() -> int:
    start = time.process_time()
    worst, at = max_error()
    print(f"exp: max {worst:.4f} ulp at x = {at!r} ({time.process_time() - start:.0f} s CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
