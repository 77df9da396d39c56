"""Run one function eagerly and compiled on every backend and optimization level, and compare.

Shared by the reliability regression tests and the differential fuzzer (tests/fuzz/): a
configuration is a name ("eager", "interp", "llvm-O0".."llvm-O3", "cuda-emu") and the outputs
it gives, as NumPy arrays. Bit-exact configurations are compared exactly; math that differs
in rounding between NumPy and the inline kernels gets a tolerance in ulps of the dtype.
"""
from __future__ import annotations

import contextlib
import shutil
import warnings
from typing import Callable, Sequence

import numpy as onp

import hybrid as hb
from hybrid import np
from hybrid.ir.types import is_float_dtype

LLVM_LEVELS = (0, 1, 2, 3)
HAVE_GXX = shutil.which("g++") is not None


def configurations(cuda: bool = False) -> list[str]:
    """eager, interp, llvm at every level, and (cuda=True, where g++ exists) the CUDA emulator, whose
    g++ compiles are slow: the regression tests gather their cases into one emulator run each
    (test_cuda_emulator.py)."""
    names = ["eager", "interp"] + [f"llvm-O{level}" for level in LLVM_LEVELS]
    return names + (["cuda-emu"] if cuda and HAVE_GXX else [])


def _compiled(fn: Callable, config: str) -> Callable:
    if config == "interp":
        return hb.hybridize(fn, backend="interp")
    if config.startswith("llvm-O"):
        return hb.hybridize(fn, backend="llvm", opt_level=int(config[-1]))
    if config == "cuda-emu":
        return hb.hybridize(fn, backend="cuda", runtime="emulator")
    raise ValueError(config)


def as_list(result) -> list[onp.ndarray]:
    if isinstance(result, (tuple, list)):
        return [r for item in result for r in as_list(item)]
    return [onp.asarray(result.asnumpy() if hasattr(result, "asnumpy") else result)]


def run(fn: Callable, inputs: Sequence[onp.ndarray], config: str, training: bool = False) -> list[onp.ndarray]:
    """fn's outputs under one configuration (in training mode: dropout and batch statistics on);
    an exception propagates."""
    with warnings.catch_warnings(), (hb.autograd.train_mode() if training else contextlib.nullcontext()):
        warnings.simplefilter("ignore", RuntimeWarning)   # NumPy's overflow/invalid warnings
        hb.np.random.seed(0)
        if config == "eager":
            return as_list(fn(*[np.array(x) for x in inputs]))
        return as_list(_compiled(fn, config)(*[onp.array(x) for x in inputs]))


def gradients(fn: Callable, inputs: Sequence[onp.ndarray], config: str, training: bool = False) -> list[onp.ndarray]:
    """d(sum of fn's float outputs)/d(each float input), recorded eagerly or through the compiled function."""
    arrays = [np.array(x) for x in inputs]
    for a in arrays:
        if is_float_dtype(a.dtype):
            a.attach_grad()
    call = fn if config == "eager" else _compiled(fn, config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hb.np.random.seed(0)
        with hb.autograd.record(train_mode=training):
            outs = call(*arrays)
            outs = outs if isinstance(outs, (tuple, list)) else (outs,)
            loss = None
            for o in outs:
                if is_float_dtype(o.dtype):
                    term = np.sum(o.astype("float32"))
                    loss = term if loss is None else loss + term
        if loss is None:
            return []
        loss.backward()
    return [a.grad.asnumpy() for a in arrays if is_float_dtype(a.dtype)]


def run_all(fn: Callable, inputs: Sequence[onp.ndarray], configs: Sequence[str] | None = None,
            training: bool = False, runner: Callable = run) -> dict:
    """config -> outputs (of `runner`: run or gradients), or config -> the exception it raised."""
    results = {}
    for config in configs or configurations():
        try:
            results[config] = runner(fn, inputs, config, training)
        except Exception as exc:   # noqa: BLE001 - the caller compares errors across configurations
            results[config] = exc
    return results


def ulp_distance(a: onp.ndarray, b: onp.ndarray) -> onp.ndarray:
    """|a - b| in units in the last place of a's dtype (NaN == NaN, inf == inf: 0)."""
    a, b = onp.asarray(a), onp.asarray(b)
    if not is_float_dtype(a.dtype):
        return onp.where(a == b, 0, onp.inf)
    ints = {2: onp.int16, 4: onp.int32, 8: onp.int64}[a.dtype.itemsize]

    def ordered(x):   # floats as integers in the same order (two's complement trick)
        i = x.view(ints).astype(onp.int64)
        return onp.where(i < 0, onp.iinfo(ints).min - i, i)
    both_nan = onp.isnan(a) & onp.isnan(b)
    one_nan = onp.isnan(a) ^ onp.isnan(b)
    d = onp.abs(ordered(a).astype(onp.float64) - ordered(b).astype(onp.float64))
    return onp.where(both_nan, 0, onp.where(one_nan, onp.inf, d))


def close(got: onp.ndarray, ref: onp.ndarray, ulps: float = 0, rtol: float = 0, floor: float = 0) -> onp.ndarray:
    """Elementwise: equal within `ulps`, or (rtol > 0) within rtol of the output's largest magnitude,
    or of `floor` if larger (sums and products round differently in each configuration; a gradient
    that cancels to 0 is rounding noise on terms of order 1); NaN, inf and their signs must agree."""
    ok = ulp_distance(got, ref) <= ulps
    if rtol and is_float_dtype(ref.dtype):
        finite = onp.isfinite(ref) & onp.isfinite(got)
        scale = max(onp.abs(ref[finite]).max(initial=0) if finite.any() else 0, floor)
        with onp.errstate(all="ignore"):
            near = onp.abs(got.astype(onp.float64) - ref) <= rtol * (onp.abs(ref.astype(onp.float64)) + scale)
        ok |= finite & near
    return ok


def assert_same(results: dict, ulps: float = 0, reference: str = "eager", rtol: float = 0) -> None:
    """Every configuration gives the reference's shapes, dtypes and values (see `close`), or
    all raise."""
    ref = results[reference]
    for config, got in results.items():
        if isinstance(ref, Exception) or isinstance(got, Exception):
            assert isinstance(ref, Exception) and isinstance(got, Exception), \
                f"{config}: {got!r} but {reference}: {ref!r}"
            continue
        assert len(got) == len(ref), f"{config}: {len(got)} outputs, {reference}: {len(ref)}"
        for i, (g, r) in enumerate(zip(got, ref)):
            assert g.shape == r.shape and g.dtype == r.dtype, \
                f"{config} output {i}: {g.dtype}{list(g.shape)}, {reference}: {r.dtype}{list(r.shape)}"
            bad = ~close(g, r, ulps, rtol)
            assert not bad.any(), (f"{config} output {i} differs from {reference} at {onp.argwhere(bad)[:5].tolist()}:"
                                   f"\n{g}\n{r}")
