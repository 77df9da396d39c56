"""Shared checks for the frontend tests: run a function eagerly and hybridized (interp backend)
and compare both with a NumPy reference."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as onp

import hybrid as hb
from hybrid import np

RNG = onp.random.default_rng(1234)


def sample(shape, dtype="float32", low=-3.0, high=3.0, rng=None) -> onp.ndarray:
    """Random test data: floats in [low, high), ints in [-5, 5), bools half true."""
    rng = rng or RNG
    dtype = onp.dtype(dtype)
    if dtype == onp.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(-5 if dtype.kind == "i" else 0, 5, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def run_both(fn: Callable, *inputs: onp.ndarray):
    """(eager result, hybridized interp result) of fn on NDArrays made from `inputs`, as NumPy."""
    args = [np.array(x) for x in inputs]
    eager = fn(*args)
    hybrid_fn = hb.hybridize(fn, backend="interp")
    compiled = hybrid_fn(*args)
    check_round_trip(hybrid_fn, [a.asnumpy() for a in args], _flat(_to_numpy(compiled)))
    return _to_numpy(eager), _to_numpy(compiled)


def check_round_trip(hybrid_fn, inputs: list, outputs: list) -> None:
    """The traced and optimized IR print, parse back to the same text, verify, and (for the
    optimized graph) still compute the same outputs on the interp backend."""
    from hybrid import codegen
    for stage in ("traced", None):
        text = hybrid_fn.ir(stage)
        graph = hb.ir.parse(text)
        assert str(graph) == text
        hb.ir.verify(graph)
    if any(v.name == "rng.key" for v in graph.inputs):
        return  # random graphs read the generator's state; tests/frontend/test_random.py covers them
    rerun = codegen.build(graph, "interp")(inputs)
    for got, want in zip(rerun, outputs):
        onp.testing.assert_array_equal(got, want)


def _flat(result) -> list:
    return [r for item in result for r in _flat(item)] if isinstance(result, list) else [result]


def _to_numpy(result):
    if isinstance(result, (tuple, list)):
        return [_to_numpy(r) for r in result]
    assert isinstance(result, hb.NDArray), f"expected an NDArray, got {type(result).__name__}"
    return result.asnumpy()


def check(fn: Callable, ref: Callable, *inputs: onp.ndarray, rtol: float = 1e-6, atol: float = 1e-6,
          dtype: Optional[str] = None) -> None:
    """fn eager == fn hybridized (interp) == ref (NumPy) within tolerances; dtype if given."""
    eager, compiled = run_both(fn, *inputs)
    expected = ref(*inputs)
    _compare(eager, compiled, expected, rtol, atol, dtype)


def _compare(eager, compiled, expected, rtol, atol, dtype):
    if isinstance(expected, (tuple, list)):
        assert len(eager) == len(expected) == len(compiled)
        for e, c, x in zip(eager, compiled, expected):
            _compare(e, c, x, rtol, atol, dtype)
        return
    expected = onp.asarray(expected)
    assert eager.shape == expected.shape, f"eager shape {eager.shape}, NumPy {expected.shape}"
    assert compiled.shape == expected.shape, f"hybridized shape {compiled.shape}, NumPy {expected.shape}"
    assert eager.dtype == compiled.dtype, f"eager dtype {eager.dtype}, hybridized {compiled.dtype}"
    if dtype is not None:
        assert eager.dtype == onp.dtype(dtype), f"dtype {eager.dtype}, expected {dtype}"
    elif expected.dtype in (onp.float32, onp.int32, onp.bool_):
        # where NumPy's own result is one of hybrid's default dtypes, hybrid must agree with it
        assert eager.dtype == expected.dtype, f"dtype {eager.dtype}, NumPy gives {expected.dtype}"
    # eager and the interp backend run the same NumPy references; optimization passes may
    # reassociate float math, so floats agree to a few ulps and everything else exactly
    if eager.dtype.kind == "f":
        onp.testing.assert_allclose(compiled, eager, rtol=1e-6, atol=1e-6, equal_nan=True)
    else:
        onp.testing.assert_array_equal(compiled, eager)
    if expected.dtype.kind in "biu" and eager.dtype.kind in "biu":
        onp.testing.assert_array_equal(eager, expected.astype(eager.dtype))
    else:
        onp.testing.assert_allclose(eager.astype(onp.float64), expected.astype(onp.float64), rtol=rtol, atol=atol,
                                    equal_nan=True)
