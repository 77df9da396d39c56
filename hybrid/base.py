"""`hb.base`: the names MXNet programs import from `mxnet.base` (the error class, type tuples)."""
from __future__ import annotations

import numpy

from .errors import HybridError

MXNetError = HybridError   # every error hybrid raises on bad input derives from it
integer_types = (int, numpy.integer)
numeric_types = (float, int, numpy.generic)
string_types = (str,)


def py_str(x: bytes) -> str:
    return x.decode("utf-8")


__all__ = ["MXNetError", "integer_types", "numeric_types", "string_types", "py_str"]
