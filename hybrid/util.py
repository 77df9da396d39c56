"""`hb.util`: MXNet's NumPy-mode switches (always on here) and small helpers."""
from tempfile import TemporaryDirectory  # mx.util.TemporaryDirectory: the standard one

from .frontend.npx import is_np_array, is_np_shape, reset_np, set_np, use_np
from .core.context import num_gpus


def use_np_array(func):
    return use_np(func)


use_np_shape = use_np_array


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
           "num_gpus", "getenv", "setenv", "TemporaryDirectory"]
