"""`hb.util`: MXNet's NumPy-mode switches (always on here) and small helpers."""
import contextlib
from tempfile import TemporaryDirectory  # mx.util.TemporaryDirectory: the standard one

from .frontend.npx import is_np_array, is_np_shape, reset_np, set_np, use_np
from .core.context import num_gpus


def use_np_array(func):
    return use_np(func)


use_np_shape = use_np_array


@contextlib.contextmanager
def np_shape(active: bool = True):
    """MXNet's scope for NumPy shape semantics (0-d and zero-size arrays). hybrid always has them,
    so the scope changes nothing, like npx.set_np / reset_np (docs/semantics.md)."""
    yield


np_array = np_shape   # MXNet's scope for the NumPy array type: the only one hybrid has


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


__all__ = ["is_np_array", "is_np_shape", "reset_np", "set_np", "use_np", "use_np_array", "use_np_shape",
           "np_shape", "np_array", "num_gpus", "getenv", "setenv", "TemporaryDirectory"]
