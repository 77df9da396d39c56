"""`mxnet.numpy_dispatch_protocol`: which official NumPy functions and ufuncs, applied to hybrid arrays,
run hybrid's own implementation through NumPy's `__array_function__` / `__array_ufunc__` protocols
(hybrid/frontend/interop.py; any other NumPy function runs on the arrays' data eagerly), and MXNet's
decorators for tests that rely on the protocols."""
from __future__ import annotations

import functools
from typing import Callable

import numpy

from .frontend import np as _hb_np


def _native(names) -> list[str]:
    return sorted(name for name in names if callable(getattr(_hb_np, name, None)))


# NumPy's ufuncs and its other public functions that hb.np implements natively
_NUMPY_ARRAY_UFUNC_LIST = _native(n for n in dir(numpy) if isinstance(getattr(numpy, n), numpy.ufunc))
_NUMPY_ARRAY_FUNCTION_LIST = _native(n for n in dir(numpy) if not n.startswith("_") and
                                     callable(getattr(numpy, n)) and not isinstance(getattr(numpy, n), (numpy.ufunc, type)))


def with_array_function_protocol(func: Callable) -> Callable:
    """MXNet's marker for a test relying on the NumPy protocols (it skipped them on NumPy versions
    without them; every NumPy hybrid supports has both): runs `func` as it is."""
    @functools.wraps(func)
    def run(*args, **kwargs):
        return func(*args, **kwargs)
    return run


with_array_ufunc_protocol = with_array_function_protocol

__all__ = ["with_array_function_protocol", "with_array_ufunc_protocol"]
