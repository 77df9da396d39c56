"""Shape-rule helpers shared by the op definition modules."""
from __future__ import annotations

from ...errors import ShapeError
from ..types import TensorType


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of static shapes; raises ShapeError naming the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast "
                             f"(dimension {i - ndim} differs: {sorted(dims)})")
        result.append(dims.pop() if dims else 1)
    return tuple(result)


def same_dtype(types: list[TensorType]) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ShapeError(f"operands have different dtypes {sorted(dtypes)}; cast one with astype()")
    return dtypes.pop()


def check_axes(axes: tuple[int, ...], ndim: int) -> None:
    for a in axes:
        if not 0 <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for a {ndim}-d array")
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in {axes}")


def expect_ndim(t: TensorType, ndim: int, what: str) -> None:
    if t.ndim != ndim:
        raise ShapeError(f"{what} must be {ndim}-d, got {t}")
