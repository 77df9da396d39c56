"""`hb.util`: MXNet's NumPy-mode switches (always on here) and small helpers."""
import contextlib
import functools
import inspect
from tempfile import TemporaryDirectory  # mx.util.TemporaryDirectory: the standard one

from .frontend.npx import is_np_array, is_np_default_dtype, is_np_shape, reset_np, set_np, use_np
from .core.context import num_gpus
from .core.promote import numpy_default_dtypes, set_numpy_default_dtypes


def use_np_array(func):
    return use_np(func)


use_np_shape = use_np_array


@contextlib.contextmanager
def np_shape(active: bool = True):
    """MXNet's scope for NumPy shape semantics (0-d and zero-size arrays). hybrid always has them,
    so the scope changes nothing, like npx.set_np / reset_np (docs/semantics.md)."""
    yield


np_array = np_shape   # MXNet's scope for the NumPy array type: the only one hybrid has


def np_default_dtype(active: bool = True):
    """MXNet's scope for NumPy's default dtypes: inside `with np_default_dtype():` creation without a
    dtype (array of floats, ones, zeros, eye, linspace, arange of ints, random.uniform, ...) gives
    float64 / int64, and true division or the mean of integers float64, as in NumPy."""
    return numpy_default_dtypes(active)


def set_np_default_dtype(is_np_default_dtype: bool = True) -> bool:
    """Turn NumPy's float64/int64 creation defaults on or off for the process; returns the previous setting."""
    return set_numpy_default_dtypes(is_np_default_dtype)


def use_np_default_dtype(func):
    """Decorator: the function (or every method a class defines) runs with NumPy's default dtypes
    (see np_default_dtype)."""
    if inspect.isclass(func):
        for name, member in list(vars(func).items()):
            if inspect.isfunction(member):
                setattr(func, name, use_np_default_dtype(member))
        return func

    @functools.wraps(func)
    def with_numpy_defaults(*args, **kwargs):
        with numpy_default_dtypes():
            return func(*args, **kwargs)
    return with_numpy_defaults


def set_flush_denorms(value: bool) -> bool:
    """MXNet's switch for flushing subnormal floats to zero on the CPU; returns the previous setting.
    hybrid's kernels keep IEEE subnormals (as NumPy does), so the setting is always off: False is
    accepted, True raises."""
    if value:
        from .errors import HybridError
        raise HybridError("util.set_flush_denorms(True): hybrid keeps IEEE subnormal floats as NumPy does (its "
                          "kernels never set the CPU's flush-to-zero mode); there is nothing to switch on")
    return False


def getenv(name: str):
    """An environment variable's value (None when unset), as mx.util.getenv."""
    import os
    return os.environ.get(name)


def setenv(name: str, value) -> None:
    """Set (value is not None) or unset an environment variable, as mx.util.setenv."""
    import os
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


__all__ = ["is_np_array", "is_np_shape", "is_np_default_dtype", "np_default_dtype", "set_np_default_dtype",
           "use_np_default_dtype", "set_flush_denorms", "reset_np", "set_np", "use_np", "use_np_array", "use_np_shape",
           "np_shape", "np_array", "num_gpus", "getenv", "setenv", "TemporaryDirectory"]
