"""Casts and integer arithmetic that used to crash the process or change value with the opt level.

Each case runs eagerly, on interp, on llvm at every opt level and on the CUDA emulator, and all
must agree bit for bit. The crash repros run in a child process so a regression fails one test
instead of killing the test run."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as onp
import pytest

from hybrid import np, npx
from hybrid.ir.ops.elementwise import float_to_int

from .everywhere import assert_same, run_all

SPECIAL = [-3.7, 2.5, 300.2, -1.0, -0.0, 0.99, -129.5, 255.9, 65504.0, 70000.0, 1e10, -1e10, 2.0 ** 31,
           -2.0 ** 31, 2.0 ** 32 - 1, 2.0 ** 32, 2.0 ** 63, -2.0 ** 63, 1e19, 2.0 ** 64, onp.nan, onp.inf, -onp.inf]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def in_child(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)


def test_float64_to_float16_cast_compiles_and_rounds_once():
    # used to segfault (fptrunc double -> half calls a helper MCJIT does not link)
    child = in_child("import numpy as onp, hybrid as hb\n"
                     "print(hb.hybridize(lambda a: a.astype('float16'), backend='llvm')(onp.arange(3.0)))")
    assert child.returncode == 0, child.stderr[-2000:]
    rng = onp.random.default_rng(0)
    # halfway cases between float16 neighbours, one double ulp either side: double rounding would miss them
    halves = onp.float16(rng.uniform(-3e4, 3e4, 200)).astype(onp.float64)
    ulp16 = onp.spacing(onp.float16(halves)).astype(onp.float64)
    mids = halves + ulp16 / 2
    x = onp.concatenate([mids, onp.nextafter(mids, onp.inf), onp.nextafter(mids, -onp.inf),
                         rng.normal(0, 1e3, 200), [6.5e4, 65520.0, 1e300, -1e-300, onp.nan, onp.inf, 2.0 ** -25]])
    results = run_all(lambda a: a.astype("float16"), [x])
    assert_same(results)
    with onp.errstate(over="ignore"):
        onp.testing.assert_array_equal(results["llvm-O2"][0], x.astype(onp.float16))


INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]


def _special_floats():
    with onp.errstate(over="ignore"):
        return [onp.array(SPECIAL).astype(src) for src in ("float64", "float32", "float16")]


def cast_everything(*xs):
    """Every float source cast to every integer type (plus a fused cast)."""
    return tuple(x.astype(d) for x in xs for d in INT_DTYPES) + tuple((x * 1.0).astype("uint8") + 1 for x in xs)


def test_float_to_int_casts_agree_everywhere():
    xs = _special_floats()
    results = run_all(cast_everything, xs)
    assert_same(results)
    # where NumPy is defined (the truncated value fits the type) hybrid is NumPy
    got = iter(results["eager"])
    for x in xs:
        for dst in INT_DTYPES:
            out = next(got)
            with onp.errstate(invalid="ignore"):
                t = onp.trunc(x.astype(onp.float64))
                # float(max) + 1 is the exclusive bound (max itself rounds up to it for 64-bit types)
                defined = (t >= onp.iinfo(dst).min) & (t < float(onp.iinfo(dst).max) + 1)
                onp.testing.assert_array_equal(out[defined], x[defined].astype(dst))


def test_negative_float_to_uint8_wraps_like_numpy_at_every_level():
    x = onp.array([-3.7, 2.5, 300.2, -1.0], "float32")
    results = run_all(lambda a: npx.softmax(a.astype("uint8").astype("float32")), [x])
    assert_same(results, ulps=2)
    onp.testing.assert_array_equal(float_to_int(x, "u8"), x.astype("uint8"))


def test_mod_of_min_by_minus_one_is_zero():
    # used to raise SIGFPE (srem MIN, -1 traps on x86) and kill the process
    child = in_child("import numpy as onp, hybrid as hb\nfrom hybrid import np\n"
                     "a = onp.array([-2**31, 5], 'int32')\n"
                     "print(hb.hybridize(lambda a: np.mod(a, -1), backend='llvm')(a))")
    assert child.returncode == 0, child.stderr[-2000:]
    inputs = []
    for dtype in ["int8", "int32", "int64"]:
        info = onp.iinfo(dtype)
        inputs += [onp.array([info.min, info.min, info.max, -7, 7, 0, info.min], dtype),
                   onp.array([-1, 1, -1, -1, 0, 0, 0], dtype)]
    results = run_all(lambda *ab: tuple(r for i in range(0, 6, 2) for r in (np.mod(ab[i], ab[i + 1]), np.mod(ab[i], -1))),
                      inputs)
    assert_same(results)
    with onp.errstate(all="ignore"):
        for i in range(3):
            onp.testing.assert_array_equal(results["llvm-O2"][2 * i], onp.mod(inputs[2 * i], inputs[2 * i + 1]))


def test_integer_floor_divide_matches_numpy():
    rng = onp.random.default_rng(1)
    pairs = []
    for dtype in INT_DTYPES:
        info = onp.iinfo(dtype)
        hi = min(int(info.max), 2 ** 40)
        signed = info.min < 0
        a = onp.concatenate([rng.integers(max(int(info.min), -hi), hi, 60), [info.min, info.max, 7, -7, 0, 5]])
        b = onp.concatenate([rng.integers(-9 if signed else 0, 9, 60), [0, 0, 0, -1 if signed else 1, 0, 3]])
        pairs += [a.astype(dtype), b.astype(dtype)]
    results = run_all(lambda *ab: tuple(np.floor_divide(ab[i], ab[i + 1]) for i in range(0, len(ab), 2)), pairs)
    assert_same(results)
    for i, got in enumerate(results["eager"]):
        with onp.errstate(all="ignore"):
            onp.testing.assert_array_equal(got, onp.floor_divide(pairs[2 * i], pairs[2 * i + 1]))


def test_arithmetic_on_booleans_has_numpys_dtypes():
    """bool % bool, bool ** bool and bool // bool are int8 in NumPy: the traced type used to say bool
    while eager computed int8 (found by the fuzzer)."""
    a = onp.array([True, False, True, False])
    b = onp.array([True, True, False, False])
    results = run_all(lambda a, b: (np.mod(a, b), np.power(a, b), np.floor_divide(a, b), a + b, a * b), [a, b])
    assert_same(results)
    with onp.errstate(all="ignore"):
        want = [onp.mod(a, b), onp.power(a, b), onp.floor_divide(a, b), a + b, a * b]
    for got, w in zip(results["eager"], want):
        assert got.dtype == w.dtype
        onp.testing.assert_array_equal(got, w)
