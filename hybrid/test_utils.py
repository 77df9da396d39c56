"""`hb.test_utils`: MXNet's test helpers (assert_almost_equal, same, rand_ndarray, ...) for
NDArrays, NumPy arrays and scalars alike."""
from __future__ import annotations

import contextlib
import os
from typing import Optional, Sequence

import ml_dtypes
import numpy

from .core.array import NDArray
from .core.context import Context, cpu
from .frontend.npx import use_np
from .util import use_np_default_dtype
from .ir.types import is_float_dtype
from . import test_helpers as _helpers
from .test_helpers import *  # noqa: F401,F403  (MXNet's test_utils has them all in one module)

# MXNet's default tolerances by dtype (tighter for wider floats)
_RTOL = {numpy.dtype(ml_dtypes.bfloat16): 2e-2, numpy.dtype("float16"): 1e-2, numpy.dtype("float32"): 1e-4, numpy.dtype("float64"): 1e-5}
_ATOL = {numpy.dtype(ml_dtypes.bfloat16): 1e-1, numpy.dtype("float16"): 1e-1, numpy.dtype("float32"): 1e-3, numpy.dtype("float64"): 1e-20}


def _np(a) -> numpy.ndarray:
    return a.asnumpy() if isinstance(a, NDArray) else numpy.asarray(a)


def default_device() -> Context:
    return cpu(0)


default_context = default_device


def get_rtol(rtol: Optional[float] = None, dtype=numpy.float32) -> float:
    return _RTOL.get(numpy.dtype(dtype), 1e-5) if rtol is None else rtol


def get_atol(atol: Optional[float] = None, dtype=numpy.float32) -> float:
    return _ATOL.get(numpy.dtype(dtype), 1e-20) if atol is None else atol


def _tolerances(a: numpy.ndarray, b: numpy.ndarray, rtol, atol) -> tuple[float, float]:
    widest = max((a.dtype, b.dtype), key=lambda d: d.itemsize if is_float_dtype(d) else 8)
    return get_rtol(rtol, widest), get_atol(atol, widest)


def almost_equal(a, b, rtol: Optional[float] = None, atol: Optional[float] = None, equal_nan: bool = False) -> bool:
    a, b = _np(a), _np(b)
    rtol, atol = _tolerances(a, b, rtol, atol)
    return bool(numpy.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def assert_almost_equal(a, b, rtol: Optional[float] = None, atol: Optional[float] = None,
                        names: Sequence[str] = ("a", "b"), equal_nan: bool = False, use_broadcast: bool = True,
                        mismatches=None) -> None:
    """Raise AssertionError (with the worst element) unless |a - b| <= atol + rtol |b| everywhere;
    with use_broadcast (MXNet's default) shapes that broadcast together, e.g. (1, 3, 2) and (3, 2), compare."""
    a, b = _np(a), _np(b)
    if a.shape != b.shape:
        if not use_broadcast:
            raise AssertionError(f"shapes differ: {names[0]} {a.shape}, {names[1]} {b.shape}")
        try:
            a, b = numpy.broadcast_arrays(a, b)
        except ValueError:
            raise AssertionError(f"shapes do not broadcast: {names[0]} {a.shape}, {names[1]} {b.shape}") from None
    rtol, atol = _tolerances(a, b, rtol, atol)
    numpy.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan,
                                  err_msg=f"{names[0]} and {names[1]} differ")


assert_allclose = assert_almost_equal


def same(a, b) -> bool:
    """Exactly equal values and shapes."""
    return bool(numpy.array_equal(_np(a), _np(b)))


def assert_exception(f, exception_type, *args, **kwargs) -> None:
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)} did not raise {exception_type.__name__}")


def rand_shape_nd(num_dim: int, dim: int = 10, allow_zero_size: bool = False) -> tuple[int, ...]:
    low = 0 if allow_zero_size else 1
    return tuple(int(d) for d in numpy.random.randint(low, dim + 1, size=num_dim))


def rand_shape_2d(dim0: int = 10, dim1: int = 10, allow_zero_size: bool = False) -> tuple[int, int]:
    low = 0 if allow_zero_size else 1
    return int(numpy.random.randint(low, dim0 + 1)), int(numpy.random.randint(low, dim1 + 1))


def rand_shape_3d(dim0: int = 10, dim1: int = 10, dim2: int = 10, allow_zero_size: bool = False):
    low = 0 if allow_zero_size else 1
    return tuple(int(numpy.random.randint(low, d + 1)) for d in (dim0, dim1, dim2))


def random_arrays(*shapes) -> list:
    """Standard-normal float32 NumPy arrays of the given shapes (a single array for one shape)."""
    arrays = [numpy.random.randn(*s).astype(numpy.float32) if s else numpy.float32(numpy.random.randn())
              for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def rand_ndarray(shape, stype: str = "default", density: Optional[float] = None, dtype=None,
                 distribution: Optional[str] = None) -> NDArray:
    """A random dense NDArray (uniform [-1, 1)); `density` zeroes the rest. Sparse storage types
    are not part of hybrid (docs/semantics.md)."""
    if stype != "default":
        raise ValueError(f"rand_ndarray: stype={stype!r}: hybrid has dense arrays only; use stype='default'")
    data = numpy.random.uniform(-1.0, 1.0, size=shape).astype(dtype or numpy.float32)
    if density is not None:
        data = numpy.where(numpy.random.uniform(size=shape) < density, data, 0).astype(data.dtype)
    return NDArray(data)


def compare_ndarray_tuple(t1, t2, rtol: Optional[float] = None, atol: Optional[float] = None) -> None:
    """Assert that two arrays, or two (nested) tuples of arrays, agree within tolerance; a None on
    either side (an optimizer without state) matches anything."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, (tuple, list)):
        for a, b in zip(t1, t2):   # pairwise, as MXNet's helper
            compare_ndarray_tuple(a, b, rtol, atol)
        return
    assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def _pair_of_arrays(shape, dtype, stype: str):
    """The same random array twice (uniform [0, 1)): one for each optimizer."""
    from .ndarray import random
    if stype != "default":
        rand_ndarray(shape, stype)   # raises: sparse storage types are not offered
    first = random.uniform(shape=shape, dtype=dtype)
    return first, first.copy()


def compare_optimizer(opt1, opt2, shapes: Sequence, dtype, w_stype: str = "default", g_stype: str = "default",
                      rtol: float = 1e-4, atol: float = 1e-5, compare_states: bool = True,
                      noise_seed: Optional[int] = None) -> None:
    """Run one update of each optimizer (MXNet's index-based API: create_state_multi_precision,
    update_multi_precision) from the same random weights and gradients of the given shapes, and
    assert that their states and updated weights agree. `noise_seed` reseeds the generator before
    each update, so noisy rules (SGLD) draw the same noise."""
    from .ndarray import random
    weights, grads, states = ([], []), ([], []), ([], [])
    for index, shape in enumerate(shapes):
        for pair, stype in ((weights, w_stype), (grads, g_stype)):
            a, b = _pair_of_arrays(shape, dtype, stype)
            pair[0].append(a)
            pair[1].append(b)
        states[0].append(opt1.create_state_multi_precision(index, weights[0][-1]))
        states[1].append(opt2.create_state_multi_precision(index, weights[1][-1]))
        if compare_states:
            compare_ndarray_tuple(states[0][-1], states[1][-1])
    indices = list(range(len(shapes)))
    for k, opt in enumerate((opt1, opt2)):
        if noise_seed is not None:
            random.seed(noise_seed)
        opt.update_multi_precision(indices, weights[k], grads[k], states[k])
    if compare_states:
        compare_ndarray_tuple(tuple(states[0]), tuple(states[1]), rtol=rtol, atol=atol)
    compare_ndarray_tuple(tuple(weights[0]), tuple(weights[1]), rtol=rtol, atol=atol)


def compare_optimizer_noise_seeded(opt1, opt2, shapes: Sequence, dtype, noise_seed: int, w_stype: str = "default",
                                   g_stype: str = "default", rtol: float = 1e-4, atol: float = 1e-5,
                                   compare_states: bool = True) -> None:
    """compare_optimizer with the generator reseeded to `noise_seed` before each update."""
    compare_optimizer(opt1, opt2, shapes, dtype, w_stype, g_stype, rtol, atol, compare_states, noise_seed)


@contextlib.contextmanager
def environment(*args):
    """Set environment variables for the duration of a with block: environment(name, value) or
    environment({name: value, ...}); a value of None unsets."""
    values = args[0] if len(args) == 1 else {args[0]: args[1]}
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_gluon_hybridize_consistency(net_builder, data_l: Sequence, numpy_func=None, test_grad: bool = True,
                                      rtol: float = 1e-4, atol: float = 1e-4) -> None:
    """A block built by `net_builder()` gives the same outputs (and, with test_grad, input gradients of
    out.backward(out)) eager and hybridized, from the same initial parameters; and equals
    numpy_func(*inputs) when given."""
    from .core import autograd
    results, params = [], None
    for hybridize in (False, True):
        net = net_builder()
        if params is None:
            net.initialize()
        else:
            net.load_dict(params)
        if hybridize:
            net.hybridize()
        inputs = [a.copy() for a in data_l]
        if test_grad:
            for a in inputs:
                a.attach_grad()
            with autograd.record():
                out = net(*inputs)
            out.backward(out)
        else:
            out = net(*inputs)
        if params is None:   # deferred shapes are known after the first call
            params = {k: v.data().asnumpy() for k, v in net.collect_params().items()}
        results.append((out.asnumpy(), [a.grad.asnumpy() for a in inputs] if test_grad else []))
    (out0, grads0), (out1, grads1) = results
    assert_almost_equal(out1, out0, rtol=rtol, atol=atol)
    for g1, g0 in zip(grads1, grads0):
        assert_almost_equal(g1, g0, rtol=rtol, atol=atol)
    if numpy_func is not None:
        assert_almost_equal(out0, numpy_func(*[_np(a) for a in data_l]), rtol=rtol, atol=atol)


__all__ = ["almost_equal", "assert_almost_equal", "assert_allclose", "same", "assert_exception", "default_device",
           "default_context", "get_rtol", "get_atol", "rand_shape_nd", "rand_shape_2d", "rand_shape_3d",
           "random_arrays", "rand_ndarray", "environment", "compare_ndarray_tuple", "compare_optimizer",
           "compare_optimizer_noise_seeded", "use_np", "use_np_default_dtype", "check_gluon_hybridize_consistency", *_helpers.__all__]
