"""`hb.npx`: deep-learning operators (MXNet's npx names). Composites are written once here
from primitives, so eager and traced runs compute the same thing and fusion sees primitives."""
from __future__ import annotations

import math
from typing import Optional

from ..errors import HybridError, IndexOutOfRangeError, ShapeError
from . import np
from ..core.array import Array, NDArray
from ..core.engine import ENGINE
from ..core.source import user_line
from ..core.dispatch import bind
from ..core.promote import asarray, promote


def _pair(v) -> tuple[int, int]:
    """(h, w) from an int or a pair of ints (kernel sizes, strides, padding, dilation)."""
    if isinstance(v, int):
        return (v, v)
    pair = tuple(int(x) for x in v)
    if len(pair) != 2:
        raise ValueError(f"expected an int or a pair of ints (height, width), got {v!r}")
    return pair


def relu(x) -> Array:
    return bind("relu", asarray(x))


def sigmoid(x) -> Array:
    (x,) = promote(x, to_float=True)
    return bind("sigmoid", x)


def erf(x) -> Array:
    (x,) = promote(x, to_float=True)
    return bind("erf", x)


def rsqrt(x) -> Array:
    (x,) = promote(x, to_float=True)
    return bind("rsqrt", x)


def gelu(x, approximate: str = "erf") -> Array:
    """GELU: 'erf' (exact) or 'tanh' (the approximation GPT-2/BERT use)."""
    (x,) = promote(x, to_float=True)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (np.tanh(inner) + 1.0) * 0.5
    if approximate in ("erf", "none"):
        return x * (erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'erf' or 'tanh', got {approximate!r}")


def silu(x) -> Array:
    return x * sigmoid(x)


def softplus(x) -> Array:
    """log(1 + exp(x)), stable for large |x|."""
    (x,) = promote(x, to_float=True)
    return relu(x) + np.log(np.exp(-np.abs(x)) + 1.0)


def leaky_relu(x, slope: float = 0.01) -> Array:
    return np.where(x < 0, x * slope, x)


_ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": np.tanh, "softrelu": softplus, "softplus": softplus,
                "gelu": gelu, "silu": silu, "swish": silu, "softsign": lambda x: x / (np.abs(x) + 1.0)}


def activation(x, act_type: str) -> Array:
    try:
        return _ACTIVATIONS[act_type](x)
    except KeyError:
        raise ValueError(f"unknown activation {act_type!r}; choose one of {', '.join(_ACTIVATIONS)}") from None


def softmax(x, axis: int = -1) -> Array:
    (x,) = promote(x, to_float=True)
    shifted = x - np.stop_gradient(np.max(x, axis, keepdims=True))
    e = np.exp(shifted)
    return e / np.sum(e, axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> Array:
    (x,) = promote(x, to_float=True)
    shifted = x - np.stop_gradient(np.max(x, axis, keepdims=True))
    return shifted - np.log(np.sum(np.exp(shifted), axis, keepdims=True))


def layer_norm(x, gamma=None, beta=None, axis: int = -1, eps: float = 1e-5) -> Array:
    (x,) = promote(x, to_float=True)
    mu = np.mean(x, axis, keepdims=True)
    centered = x - mu
    var = np.mean(centered * centered, axis, keepdims=True)
    out = centered * rsqrt(var + eps)
    if gamma is not None:
        out = out * _along(gamma, axis, x.ndim)
    if beta is not None:
        out = out + _along(beta, axis, x.ndim)
    return out


def _along(v, axis: int, ndim: int) -> Array:
    """Reshape a 1-d per-channel vector so it broadcasts along `axis` of an ndim array."""
    v = asarray(v)
    shape = [1] * ndim
    shape[axis % ndim] = v.shape[0]
    return np.reshape(v, shape)


def batch_norm(x, gamma, beta, running_mean, running_var, eps: float = 1e-5, axis: int = 1,
               use_batch_stats: bool = False, fix_gamma: bool = False):
    """Batch normalization over every axis but `axis`. With `use_batch_stats` (training) it
    normalizes with the batch's statistics and returns (out, batch_mean, batch_var)."""
    (x,) = promote(x, to_float=True)
    if use_batch_stats:
        axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        mean = np.mean(x, axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axes, keepdims=True)
        scale = rsqrt(var + eps)
        if not fix_gamma:
            scale = scale * _along(gamma, axis, x.ndim)
        out = centered * scale + _along(beta, axis, x.ndim)
        return out, np.reshape(mean, (-1,)), np.reshape(var, (-1,))
    scale = rsqrt(asarray(running_var) + eps)
    if not fix_gamma:
        scale = scale * gamma
    shift = beta - running_mean * scale
    return x * _along(scale, axis, x.ndim) + _along(shift, axis, x.ndim)


def convolution(x, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Array:
    """2-D convolution, NCHW input and (out, in/groups, kh, kw) weight."""
    x, weight = promote(x, weight, to_float=True)
    out = bind("conv2d", x, weight, stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation),
                groups=int(groups))
    if bias is not None:
        out = out + _along(bias, 1, 4)
    return out


def pooling(x, kernel=2, stride=None, padding=0, pool_type: str = "max", global_pool: bool = False,
            count_include_pad: bool = True) -> Array:
    """2-D max or average pooling (NCHW); `global_pool` pools each whole feature map."""
    x = asarray(x)
    if x.ndim != 4:
        raise ShapeError(f"pooling expects NCHW input, got shape {x.shape}")
    if global_pool:
        reduce = np.max if pool_type == "max" else np.mean
        return reduce(x, (2, 3), keepdims=True)
    kernel = _pair(kernel)
    stride = _pair(stride) if stride is not None else kernel
    if pool_type == "max":
        return bind("max_pool2d", x, kernel=kernel, stride=stride, padding=_pair(padding))
    if pool_type == "avg":
        return bind("avg_pool2d", x, kernel=kernel, stride=stride, padding=_pair(padding),
                     count_include_pad=bool(count_include_pad))
    raise ValueError(f"pool_type must be 'max' or 'avg', got {pool_type!r}")


def dropout(x, p: float = 0.5, training: Optional[bool] = None) -> Array:
    """Inverted dropout: in training mode zero each element with probability p and scale the
    rest by 1/(1-p); identity otherwise. Masks come from the counter-based generator."""
    from ..core.autograd import is_training
    x = asarray(x)
    if not (training if training is not None else is_training()) or p == 0:
        return x
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = np.random.uniform(size=x.shape, dtype=x.dtype) >= p
    return np.where(keep, x * (1.0 / (1.0 - p)), 0.0)


def one_hot(indices, depth: int, on_value: float = 1.0, off_value: float = 0.0, dtype="float32") -> Array:
    indices = asarray(indices)
    classes = np.arange(depth, dtype=indices.dtype)
    hit = np.expand_dims(indices, -1) == classes
    return np.where(hit, np.full((), on_value, dtype), np.full((), off_value, dtype))


def checked_indices(indices, size: int, what: str = "index") -> Array:
    """`indices` unchanged, once every value is known to lie in [0, size): eagerly it is checked now;
    compiled, it passes through a gather from a `size`-long row of zeros, whose run-time index check
    raises the same IndexOutOfRangeError (so a label of 40 for 10 classes never gives a silent loss)."""
    indices = asarray(indices)
    if isinstance(indices, NDArray):
        data = indices._data
        bad = data[(data < 0) | (data >= size)]
        if bad.size:
            line = user_line()
            where = f"\n  {line.describe()}" if line else ""
            raise IndexOutOfRangeError(f"{what} {bad.flat[0].item()!r} is out of range [0, {size}) for indices "
                                       f"{indices.type}; every value must be a valid index (for a loss: a "
                                       f"class id below the number of classes, {size}){where}")
        return indices
    return indices + np.take(np.zeros((size,), indices.dtype), indices, axis=0)


def set_np(shape: bool = True, array: bool = True, dtype: bool = False) -> None:
    """MXNet's switch to NumPy semantics. hybrid always has them, so this only checks the request:
    `dtype=True` (float64 defaults) is refused, since hybrid keeps float32/int32 defaults."""
    if not (shape and array):
        raise HybridError("npx.set_np(shape=False/array=False): hybrid has only NumPy shape and array "
                          "semantics (the legacy nd/sym modes are not offered)")
    if dtype:
        raise HybridError("npx.set_np(dtype=True): hybrid's creation defaults are float32/int32 (see "
                          "docs/semantics.md); pass dtype= explicitly where float64 is needed")


def reset_np() -> None:
    """Accepted for MXNet compatibility: hybrid stays in NumPy mode."""


def is_np_array() -> bool:
    return True


def is_np_shape() -> bool:
    return True


def embedding(indices, weight) -> Array:
    """Rows of `weight` (vocab, dim) picked by integer `indices`."""
    return np.take(weight, indices, axis=0)


def take(a, indices, axis: int = 0) -> Array:
    return np.take(a, indices, axis)


def fully_connected(x, weight, bias=None, flatten: bool = True) -> Array:
    """x @ weight.T + bias (Gluon's Dense); `flatten` folds all but the first axis into features."""
    x, weight = promote(x, weight, to_float=True)
    if flatten and x.ndim != 2:
        x = np.reshape(x, (x.shape[0], -1))
    if x.ndim == 2:
        out = bind("matmul", x, weight, transpose_a=False, transpose_b=True)
    else:
        lead = x.shape[:-1]
        out = np.reshape(bind("matmul", np.reshape(x, (-1, x.shape[-1])), weight, transpose_a=False,
                               transpose_b=True), lead + (weight.shape[0],))
    return out if bias is None else out + bias


def waitall() -> None:
    """Wait until every queued eager op and compiled call has run (core/engine.py); raise the first error that
    no read has raised yet (MXNet's npx.waitall)."""
    ENGINE.waitall()


from .npx_control import cond, foreach, while_loop  # noqa: E402,F401  (MXNet's control-flow operators)
