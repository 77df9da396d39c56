"""A SortStage as a CUDA launch: one thread per row runs the same stable bottom-up merge sort of
the index array as the LLVM backend (llvm/sort.py): runs of width 1, 2, 4, ... merged between
the output row and its scratch row, the right run taken only when strictly less (stable), NaN
after every number. Rows are independent, so a grid-stride loop over rows needs no barrier."""
from __future__ import annotations

import math

from ..kernel import Kernel, SortStage
from . import cexpr
from .body import param_list
from .launch import Launch

THREADS = 128


def _less(dtype: str) -> str:
    """C expression: value b sorts strictly before value a (NumPy's order)."""
    if cexpr.is_float(dtype):
        return "(b == b && (a != a || b < a))"   # x != x: NaN (no math header needed)
    return "(b < a)"


def sort_launch(kernel: Kernel, s: SortStage, name: str) -> Launch:
    names = [s.out, s.scratch, s.src]
    vtype = cexpr.RTYPE[s.dtype]
    src = f"""extern "C" __global__ void __launch_bounds__({THREADS}) {name}({param_list(kernel, names)}) {{
  const long long n = {s.n};
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < {s.rows}; r += (long long)gridDim.x * blockDim.x) {{
    const {cexpr.CTYPE[s.dtype]}* x = p2 + r * n;
    long long* out = p0 + r * n;
    long long* from = out;
    long long* to = p1 + r * n;
    for (long long i = 0; i < n; ++i) from[i] = i;
    for (long long w = 1; w < n; w *= 2) {{
      for (long long lo = 0; lo < n; lo += 2 * w) {{
        const long long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
        long long i = lo, j = mid;
        for (long long k = lo; k < hi; ++k) {{
          bool right = i >= mid;
          if (!right && j < hi) {{
            const {vtype} a = {cexpr.load("x", "from[i]", s.dtype)}, b = {cexpr.load("x", "from[j]", s.dtype)};
            right = {_less(s.dtype)};
          }}
          to[k] = right ? from[j++] : from[i++];
        }}
      }}
      long long* t = from; from = to; to = t;
    }}
    if (from != out) for (long long i = 0; i < n; ++i) out[i] = from[i];
  }}
}}
"""
    blocks = max(1, min(8192, math.ceil(s.rows / THREADS)))
    return Launch(name, src, (blocks, 1, 1), (THREADS, 1, 1), names, "sort",
                  f"stable merge sort, one thread per row of {s.n}")
