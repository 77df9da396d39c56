"""`mxnet.numpy_op_signature`: MXNet's lookup from an internal operator name (`_np_sum`, `_npi_add`) to
the `np` function users call; here the hb.np function of that name."""
from __future__ import annotations

from typing import Callable, Optional

from .frontend import np


def _get_builtin_op(op_name: str) -> Optional[Callable]:
    """hb.np's function for an MXNet internal op name (`_np_cumsum` -> np.cumsum), None if none."""
    for prefix in ("_npi_", "_np_"):
        if op_name.startswith(prefix):
            return getattr(np, op_name[len(prefix):], None)
    return None
