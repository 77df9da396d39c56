"""`_npi`: MXNet's internal operators that its programs call directly. Boolean-mask assignment
(`x[mask] = v` as an operator) is written with static-shape ops, so it also traces in hybridized
blocks: the mask's True positions take the scalar, or the value rows in order (a cumulative count of
the mask picks the row for each position)."""
from __future__ import annotations

from typing import Optional

from ...core.array import Array
from ...frontend import np


def _mask_to_data(mask: Array, data: Array, start_axis: int) -> Array:
    """The boolean mask reshaped to broadcast against data (mask covers axes start_axis...)."""
    if tuple(data.shape[start_axis:start_axis + mask.ndim]) != tuple(mask.shape):
        raise ValueError(f"boolean_mask_assign: mask of shape {mask.shape} does not cover data of shape {data.shape} "
                         f"from axis {start_axis}")
    rest = data.ndim - start_axis - mask.ndim
    return np.reshape(mask.astype(bool), (1,) * start_axis + tuple(mask.shape) + (1,) * rest)


def _into(out: Optional[Array], result: Array) -> Array:
    if out is None:
        return result
    out[...] = result
    return out


def boolean_mask_assign_scalar(data: Array, mask: Array, value: float, start_axis: int = 0,
                               out: Optional[Array] = None) -> Array:
    """data with data[(:,)*start_axis, mask] = value; written into `out` when given (MXNet passes out=data)."""
    return _into(out, np.where(_mask_to_data(mask, data, start_axis), np.array(value, dtype=data.dtype), data))


def boolean_mask_assign_tensor(data: Array, mask: Array, value: Array, start_axis: int = 0,
                               out: Optional[Array] = None) -> Array:
    """data with data[(:,)*start_axis, mask] = value: `value` has one row per True element along axis
    start_axis (or one row, or none, broadcast to all)."""
    full = _mask_to_data(mask, data, start_axis)
    value = np.asarray(value).astype(data.dtype)
    rows_axis = value.ndim - (data.ndim - start_axis - mask.ndim) - 1   # value's axis of masked positions
    if rows_axis >= 0 and value.shape[rows_axis] != 1:
        order = np.reshape(np.cumsum(np.reshape(mask.astype("int32"), (-1,))) - 1, mask.shape)
        picked = np.take(value, np.clip(order, 0, value.shape[rows_axis] - 1), axis=rows_axis)
        value = np.reshape(picked, picked.shape[:rows_axis] + (1,) * (start_axis - rows_axis) + picked.shape[rows_axis:]) \
            if start_axis > rows_axis else picked
    return _into(out, np.where(full, np.broadcast_to(value, data.shape), data))
