"""The reliability regression cases on the CUDA backend (host emulator): every case of the other
files of this folder gathered into one program, so one g++ compile covers them all. Exact cases
must agree with eager bit for bit; math within 2 ulp (CUDA's sinf, expm1f, ...; on the emulator
the host's libm); float sums within a relative tolerance."""
from __future__ import annotations

import numpy as onp
import pytest

from hybrid import np

from . import test_bfloat16 as half
from . import test_casts_and_integers as casts
from . import test_math as math_cases
from . import test_shapes as shapes
from .everywhere import HAVE_GXX, close, run


def _cases() -> list:
    """(name, fn, inputs, ulps, rtol) of every regression case that runs the same on every backend."""
    rng = onp.random.default_rng(5)
    ints = []
    for dtype in ("int8", "int32", "int64"):
        info = onp.iinfo(dtype)
        ints += [onp.array([info.min, info.min, info.max, -7, 7, 0], dtype), onp.array([-1, 1, -1, -1, 0, 0], dtype)]
    inf, nan = onp.inf, onp.nan
    pow_a = onp.array([-inf, -inf, -inf, inf, -0.0, -0.0, 0.0, -1.0, 1.0, -2.0, nan, 2.0], "float32")
    pow_b = onp.array([2.5, -2.5, 3.0, -0.5, 3.0, -1.0, -2.5, inf, nan, 0.5, 0.0, -inf], "float32")
    names = sorted(math_cases.BOUNDS)
    cases = [
        ("float_to_int", casts.cast_everything, casts._special_floats(), 0, 0),
        ("float64_to_float16", lambda a: a.astype("float16"), [rng.normal(0, 1e3, 64)], 0, 0),
        ("mod_floor_divide", lambda *ab: tuple(r for i in range(0, 6, 2) for r in (
            np.mod(ab[i], ab[i + 1]), np.mod(ab[i], -1), np.floor_divide(ab[i], ab[i + 1]))), ints, 0, 0),
        ("pow_special", lambda a, b: np.power(a, b), [pow_a, pow_b], 0, 0),
        ("math", lambda *xs: tuple(getattr(np, n)(x) for n, x in zip(names, xs)),
         [math_cases.BOUNDS[n][3](300) for n in names], 2, 0),
        ("float64_and_integer_matmul", lambda a, b, c, d: (a @ b, c @ d),   # the SIMT GEMM computed these in float
         [rng.standard_normal((5, 4, 7)) * 6e4, rng.standard_normal((7, 3)),
          rng.integers(0, 1000, (4, 7)).astype("int32"), rng.integers(0, 40000, (7, 3)).astype("int32")], 0, 1e-12),
        ("float16_accumulation", lambda a, b: (a @ b, a.sum(axis=1)),
         [onp.array([[60000, 60000, -60000]], "float16"), onp.ones((3, 1), "float16")], 0, 0),
    ]
    inputs, targets = half.cast_cases()
    cases.append(("bfloat16_casts", half.cast_program(targets), inputs, 0, 0))
    for dtype in (half.BF16, onp.dtype("float16")):   # a fused 16-bit chain rounds every step
        cases += [(f"{dtype.name}_elementwise_exact", half.elementwise_exact, half.elementwise_inputs(dtype), 0, 0),
                  (f"{dtype.name}_elementwise_math", half.elementwise_math, half.elementwise_inputs(dtype), 1, 0),
                  (f"{dtype.name}_float32_accumulation", half.accumulations, half.accumulation_inputs(dtype), 1, 0)]
    for name in sorted(shapes.CASES):
        fn, inputs = shapes.CASES[name]
        cases.append((name, fn, inputs, 0, 1e-6))
    return cases


@pytest.mark.skipif(not HAVE_GXX, reason="g++ not found: the CUDA emulator needs it")
def test_regression_cases_on_the_cuda_emulator():
    cases = _cases()
    sizes = [len(inputs) for _, _, inputs, _, _ in cases]
    flat = [x for _, _, inputs, _, _ in cases for x in inputs]

    def everything(*args):
        outs, k = [], 0
        for (_, fn, _, _, _), n in zip(cases, sizes):
            got = fn(*args[k:k + n])
            outs.append(tuple(got) if isinstance(got, (tuple, list)) else (got,))
            k += n
        return tuple(o for group in outs for o in group)

    eager, cuda = run(everything, flat, "eager"), run(everything, flat, "cuda-emu")
    assert len(eager) == len(cuda)
    k = 0
    for name, fn, inputs, ulps, rtol in cases:
        count = len(run(fn, inputs, "eager"))
        for i in range(k, k + count):
            e, c = eager[i], cuda[i]
            assert e.shape == c.shape and e.dtype == c.dtype, (name, e.dtype, e.shape, c.dtype, c.shape)
            bad = ~close(c, e, ulps, rtol)
            assert not bad.any(), f"{name}: cuda {c[bad][:5]} but eager {e[bad][:5]}"
        k += count
