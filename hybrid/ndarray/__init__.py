"""`hb.nd` / `hb.ndarray`: the legacy NDArray functions that MXNet 2.0 still ships as `mx.nd`, for
programs and tests written against them (new code should use `hb.np` and `hb.npx`). Sparse storage
types are not offered: every array is dense (docs/semantics.md)."""
from . import ndarray, random
from .ndarray import *  # noqa: F401,F403
from .ndarray import NDArray, waitall  # noqa: F401
