"""The legacy NDArray functions MXNet 2.0 still ships as `mx.nd` (`mx.ndarray`), over hybrid's one
array type. They differ from `np` where the legacy API did: creation defaults to float32 for every
Python input, whole-array reductions give shape (1,), `concat` joins along `dim=1`, `reshape`
understands the legacy special codes (0, -1, -2, -3, -4), and `dot` takes transpose flags."""
from __future__ import annotations

import builtins
from typing import Optional, Sequence

import numpy

from ..core.array import Array, NDArray  # noqa: F401  (mx.nd.NDArray)
from ..core.context import Context, is_host_device
from ..errors import ShapeError
from ..frontend import np, npx
from ..frontend.npx_arrays import from_numpy  # noqa: F401  (mx.nd.from_numpy, the same function)

# storage-type ids of MXNet's C API; hybrid's arrays are all dense ('default')
_STORAGE_TYPE_STR_TO_ID = {"undefined": -1, "default": 0, "row_sparse": 1, "csr": 2}
_STORAGE_TYPE_ID_TO_STR = {v: k for k, v in _STORAGE_TYPE_STR_TO_ID.items()}


def _on_host(ctx: Optional[Context], what: str) -> None:
    """Legacy creation takes ctx=; a hybrid eager array lives in host memory (as_in_context moves it)."""
    if not is_host_device(ctx):
        raise ValueError(f"nd.{what}: eager arrays are created in host memory, got ctx={ctx!r}; create it "
                         f"on the CPU and call .as_in_context({ctx!r})")


def _dense(stype: Optional[str], what: str) -> None:
    if stype not in (None, "default"):
        raise ValueError(f"nd.{what}: stype={stype!r}: hybrid has dense arrays only (docs/semantics.md); "
                         "use stype='default'")


def array(source_array, ctx: Optional[Context] = None, dtype=None) -> NDArray:
    """A new array; dtype defaults to the source's for arrays and to float32 for anything else."""
    _on_host(ctx, "array")
    if dtype is None:
        dtype = source_array.dtype if isinstance(source_array, (Array, numpy.ndarray)) else "float32"
    return np.array(source_array.asnumpy() if isinstance(source_array, Array) else source_array, dtype=dtype)


def zeros(shape, ctx: Optional[Context] = None, dtype=None, stype: Optional[str] = None, **kwargs) -> NDArray:
    _on_host(ctx, "zeros")
    _dense(stype, "zeros")
    return np.zeros(shape, dtype=dtype or "float32")


def ones(shape, ctx: Optional[Context] = None, dtype=None, **kwargs) -> NDArray:
    _on_host(ctx, "ones")
    return np.ones(shape, dtype=dtype or "float32")


def empty(shape, ctx: Optional[Context] = None, dtype=None, stype: Optional[str] = None) -> NDArray:
    """Zero-filled (an uninitialised buffer would make results depend on memory contents)."""
    return zeros(shape, ctx, dtype, stype)


def full(shape, val, ctx: Optional[Context] = None, dtype="float32", out=None) -> NDArray:
    _on_host(ctx, "full")
    result = np.full(shape, val, dtype=dtype)
    return _into(out, result)


def arange(start, stop=None, step=1.0, repeat: int = 1, infer_range=None, ctx: Optional[Context] = None,
           dtype="float32") -> NDArray:
    """start, start+step, ... below stop, each value `repeat` times in a row."""
    _on_host(ctx, "arange")
    values = np.arange(start, stop, step, dtype=dtype)
    return np.repeat(values, repeat) if repeat != 1 else values


def zeros_like(data, **kwargs) -> Array:
    return np.zeros_like(data)


def ones_like(data, **kwargs) -> Array:
    return np.ones_like(data)


def _into(out, result: Array):
    """Write into `out` when given (the legacy out= argument), else return the result."""
    if out is None:
        return result
    out[...] = result
    return out


def _full_reduce(fn):
    """Legacy reductions: axis=None gives shape (1,), not a 0-d array; exclude=True reduces every
    axis except `axis`."""
    def reduce(data, axis=None, keepdims: bool = False, exclude: bool = False, out=None, **kwargs):
        if exclude:
            keep = {a % data.ndim for a in ((axis,) if isinstance(axis, int) else tuple(axis or ()))}
            axis = tuple(a for a in range(data.ndim) if a not in keep)
        if isinstance(axis, (list, tuple)) and len(axis) == 0:
            axis = None
        result = fn(data, axis=axis, keepdims=keepdims)
        return _into(out, result.reshape((1,)) if result.ndim == 0 else result)
    reduce.__name__ = fn.__name__
    reduce.__doc__ = f"Legacy {fn.__name__}: like np.{fn.__name__}, but a whole-array result has shape (1,)."
    return reduce


sum, mean, max, min, prod, nansum, nanprod = (_full_reduce(f) for f in (np.sum, np.mean, np.max, np.min, np.prod,
                                                                     np.nansum, np.nanprod))


def norm(data, ord: int = 2, axis=None, keepdims: bool = False, out=None) -> Array:
    """The L1 or L2 norm; of the whole array (shape (1,)) when axis is None."""
    if ord not in (1, 2):
        raise ValueError(f"nd.norm: ord must be 1 or 2, got {ord!r}")
    magnitude = np.abs(data) if ord == 1 else data * data
    total = np.sum(magnitude, axis=axis, keepdims=keepdims)
    result = total if ord == 1 else np.sqrt(total)
    return _into(out, result.reshape((1,)) if result.ndim == 0 else result)


def dot(lhs, rhs, transpose_a: bool = False, transpose_b: bool = False, out=None, **kwargs) -> Array:
    """Matrix product; transpose_a/b transpose a 2-D operand first."""
    lhs = lhs.T if transpose_a else lhs
    rhs = rhs.T if transpose_b else rhs
    return _into(out, np.dot(lhs, rhs))


def concat(*data, dim: int = 1, out=None, **kwargs) -> Array:
    """Join arrays along `dim` (the legacy default is the second axis)."""
    return _into(out, np.concatenate(list(data), axis=dim))


def stack(*data, axis: int = 0, out=None, **kwargs) -> Array:
    return _into(out, np.stack(list(data), axis=axis))


# legacy reshape code -> npx.reshape's: 0 copies a dimension, -1 is inferred, -2 copies all remaining
# dimensions, -3 merges two, -4 splits one into the two values that follow it
_NPX_CODE = {0: -2, -1: -1, -2: -4, -3: -5, -4: -6}


def _npx_codes(target: Sequence[int]) -> list:
    """The legacy codes of `target` as npx.reshape's (the two values after a split stay as they are)."""
    codes, rest = [], [int(c) for c in target]
    while rest:
        code = rest.pop(0)
        if code > 0:
            codes.append(code)
        elif code in _NPX_CODE:
            codes.append(_NPX_CODE[code])
        else:
            raise ValueError(f"nd.reshape: unknown shape code {code} in {tuple(target)} (legacy codes: 0, -1, -2, "
                             "-3, -4)")
        if code == -4:
            codes += rest[:2]
            del rest[:2]
    return codes


def reshape(data, shape, reverse: bool = False, out=None, **kwargs) -> Array:
    """Reshape with the legacy special codes; `reverse` matches codes to dimensions right to left."""
    target = [shape] if isinstance(shape, (int, numpy.integer)) else list(shape)
    codes = _npx_codes(target)
    try:
        return _into(out, npx.reshape(data, codes, reverse=reverse))
    except ShapeError as e:
        raise ShapeError(f"nd.reshape{tuple(target)} (legacy codes; as npx.reshape codes {tuple(codes)}): {e}") from None


def flatten(data, **kwargs) -> Array:
    """Collapse every axis after the first: (N, d1, d2, ...) -> (N, d1*d2*...)."""
    return np.reshape(data, (data.shape[0], -1)) if data.ndim else np.reshape(data, (1, 1))


Flatten = flatten


def transpose(data, axes=None, **kwargs) -> Array:
    return np.transpose(data, axes=axes or None)


def clip(data, a_min, a_max, out=None, **kwargs) -> Array:
    return _into(out, np.clip(data, a_min, a_max))


def cast(data, dtype, **kwargs) -> Array:
    return np.astype(data, dtype)


Cast = cast


def slice_axis(data, axis: int, begin: int, end: Optional[int], **kwargs) -> Array:
    """data[..., begin:end, ...] along `axis`."""
    key = [builtins.slice(None)] * data.ndim
    key[axis] = builtins.slice(begin, end)
    return data[tuple(key)]



def one_hot(indices, depth: int, on_value: float = 1.0, off_value: float = 0.0, dtype="float32", **kwargs) -> Array:
    return npx.one_hot(indices, depth, on_value, off_value, dtype)


def softmax(data, axis: int = -1, temperature: Optional[float] = None, **kwargs) -> Array:
    return npx.softmax(data if temperature is None else data / temperature, axis=axis)


def log_softmax(data, axis: int = -1, temperature: Optional[float] = None, **kwargs) -> Array:
    return npx.log_softmax(data if temperature is None else data / temperature, axis=axis)


def Activation(data, act_type: str, **kwargs) -> Array:
    return npx.activation(data, act_type)


def FullyConnected(data, weight, bias=None, num_hidden: Optional[int] = None, no_bias: bool = False,
                   flatten: bool = True, **kwargs) -> Array:
    return npx.fully_connected(data, weight, bias, num_hidden=num_hidden, no_bias=no_bias, flatten=flatten)


def Dropout(data, p: float = 0.5, **kwargs) -> Array:
    return npx.dropout(data, p)


def waitall() -> None:
    npx.waitall()


def reset_arrays(*arrays, num_arrays: Optional[int] = None) -> None:
    """Set every given array to zero in place."""
    for a in arrays[:num_arrays]:
        a[...] = 0


def save(fname: str, data) -> None:
    npx.save(fname, data)


def load(fname: str):
    return npx.load(fname)


# elementwise and shape functions whose legacy form is the NumPy one
_SAME = ("abs", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "square", "sin", "cos", "tan", "arcsin",
         "arccos", "arctan", "sinh", "cosh", "tanh", "sign", "floor", "ceil", "trunc", "rint", "negative",
         "reciprocal", "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "where",
         "expand_dims", "squeeze", "tile", "repeat", "argmax", "argmin", "split", "broadcast_to", "flip", "take",
         "round")
_NPX = ("relu", "sigmoid", "erf", "rsqrt", "batch_dot", "pick", "topk", "smooth_l1", "gamma", "gammaln", "embedding",
        "sequence_mask", "layer_norm", "batch_norm")


def _with_out(fn):
    """The function with the legacy `out=` argument (the result is written into `out`)."""
    def legacy(*args, out=None, **kwargs):
        return _into(out, fn(*args, **kwargs))
    legacy.__name__, legacy.__doc__ = fn.__name__, fn.__doc__
    return legacy


for _name in _SAME:
    globals().setdefault(_name, _with_out(getattr(np, _name)))
for _name in _NPX:
    globals().setdefault(_name, _with_out(getattr(npx, _name)))
# the legacy broadcast_*/elemwise_* spellings of the binary operators
for _legacy, _numpy in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("div", "divide"),
                        ("maximum", "maximum"), ("minimum", "minimum"), ("power", "power")):
    globals()[f"broadcast_{_legacy}"] = globals()[f"elemwise_{_legacy}"] = _with_out(getattr(np, _numpy))
del _name, _legacy, _numpy
py_slice = builtins.slice   # MXNet's name for Python's slice (its nd.slice operator shadows the builtin)

__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and callable(value) and name not in
                 ("Array", "Context", "Optional", "Sequence", "ShapeError", "annotations", "py_slice", "is_host_device"))
