"""NumPy's dispatch protocols for hybrid arrays: `numpy.sum(x)`, `numpy.concatenate([x, y])`,
`numpy.exp(x)`, `numpy.add(x, y, out=z)` run hb.np's function of the same name, so they return
hybrid arrays, trace when traced and record gradients. A NumPy function hb.np lacks runs on the
arrays' NumPy data eagerly (its array results come back as hybrid arrays); traced, it is a clear
TracingError rather than a silent escape from the graph.
"""
from __future__ import annotations

import numpy

from ..core.array import Array, NDArray, Tracer, _tracing_error, write_out

# NumPy ufunc methods hb.np spells as functions
_REDUCE = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min", "logical_and": "all",
           "logical_or": "any"}
_ACCUMULATE = {"add": "cumsum", "multiply": "cumprod"}


def _namespace_for(func):
    from . import np
    module = getattr(func, "__module__", "") or ""
    for sub in ("linalg", "fft", "random"):
        if module.endswith(sub) and hasattr(np, sub):
            return getattr(np, sub)
    return np


def _numpy_fallback(func, args, kwargs):
    """Run a NumPy function hb.np does not define on the NumPy data of eager arrays."""
    def unwrap(v):
        if isinstance(v, Tracer):
            raise _tracing_error(f"numpy.{func.__name__} (which hybrid does not implement) was applied",
                                 "Use hybrid.np functions inside hybridized code, or call it outside.")
        if isinstance(v, NDArray):
            return v._data
        if isinstance(v, (list, tuple)):
            return type(v)(unwrap(x) for x in v)
        if isinstance(v, dict):
            return {k: unwrap(x) for k, x in v.items()}
        return v

    def wrap(v):
        if isinstance(v, numpy.ndarray):
            return NDArray(v)
        if isinstance(v, tuple):
            return type(v)(*map(wrap, v)) if hasattr(v, "_fields") else tuple(wrap(x) for x in v)
        if isinstance(v, list):
            return [wrap(x) for x in v]
        return v

    return wrap(func(*unwrap(list(args)), **unwrap(kwargs)))


def array_function(func, types, args, kwargs):
    """Array.__array_function__: hb.np's function of the same name, else NumPy's on the data."""
    if not all(issubclass(t, (Array, numpy.ndarray)) for t in types):
        return NotImplemented
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    impl = getattr(_namespace_for(func), func.__name__, None)
    if impl is None or impl is func:
        result = _numpy_fallback(func, args, kwargs)
    else:
        result = impl(*args, **kwargs)
    return write_out(out, result)


def array_ufunc(ufunc, method: str, inputs, kwargs):
    """Array.__array_ufunc__: `numpy.exp(x)`, `numpy.add(x, y, out=z)`, `numpy.add.reduce(x)`."""
    from . import np
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    dtype = kwargs.pop("dtype", None)
    name = ufunc.__name__
    if method == "__call__":
        impl = getattr(np, name, None)
    elif method == "reduce":
        impl = getattr(np, _REDUCE.get(name, ""), None)
        kwargs.setdefault("axis", 0)
    elif method == "accumulate":
        impl = getattr(np, _ACCUMULATE.get(name, ""), None)
        kwargs.setdefault("axis", 0)
    else:
        impl = None
    if impl is None:
        return _numpy_fallback(getattr(ufunc, method), inputs, dict(kwargs, **({"dtype": dtype} if dtype else {}),
                                                                   **({"out": out} if out is not None else {})))
    result = impl(*inputs, **kwargs)
    if dtype is not None:
        result = tuple(np.astype(r, dtype) for r in result) if isinstance(result, tuple) else np.astype(result, dtype)
    return write_out(out, result)
