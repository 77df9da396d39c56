"""Gradient utilities (Gluon's gluon.utils): global-norm clipping, functional and in place."""
from __future__ import annotations

import math
import warnings
from typing import Sequence

from ..errors import HybridError
from ..core import autograd
from ..frontend import np
from ..core.array import Array, NDArray

_NORM_EPS = 1e-8


def global_norm(arrays: Sequence[Array]) -> Array:
    """sqrt(sum of squares of every element of every array), a 0-d array (traceable)."""
    if not arrays:
        raise HybridError("global_norm of an empty list of arrays")
    total = None
    for a in arrays:
        sq = np.sum(a * a)
        total = sq if total is None else total + sq
    return np.sqrt(total)


def clip_by_global_norm(arrays: Sequence[Array], max_norm: float) -> tuple[list[Array], Array]:
    """Scale all arrays by min(1, max_norm / norm) so their global norm is at most max_norm.
    Pure (traceable): returns (clipped arrays, the norm before clipping)."""
    if max_norm <= 0:
        raise HybridError(f"max_norm must be positive, got {max_norm}")
    norm = global_norm(arrays)
    scale = np.minimum(max_norm / (norm + _NORM_EPS), 1.0)
    return [a * scale for a in arrays], norm


def clip_global_norm(arrays: Sequence[NDArray], max_norm: float, check_isfinite: bool = True) -> float:
    """Gluon's in-place form: rescale the NDArrays (e.g. gradients) and return the norm."""
    if not all(isinstance(a, NDArray) for a in arrays):
        raise HybridError("clip_global_norm works in place on NDArrays; inside traced code use "
                          "clip_by_global_norm, which returns the clipped arrays")
    with autograd.pause():
        clipped, norm = clip_by_global_norm(arrays, max_norm)
    for a, c in zip(arrays, clipped):
        a._assign(c._data)
    value = float(norm)
    if check_isfinite and not math.isfinite(value):
        warnings.warn(f"clip_global_norm: the global norm is {value}; gradients are not finite", stacklevel=2)
    return value

