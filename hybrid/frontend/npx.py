"""`hb.npx`: deep-learning operators (MXNet's npx names). Composites are written once here
from primitives, so eager and traced runs compute the same thing and fusion sees primitives."""
from __future__ import annotations

import math
from typing import Optional

from ..errors import HybridError, IndexOutOfRangeError, ShapeError
from . import convnd, np
from ..core.array import Array, NDArray, write_out
from ..core.engine import ENGINE
from ..core.source import user_line
from ..core.dispatch import bind
from ..core.promote import asarray, numpy_defaults_active, promote, set_numpy_default_dtypes
from ..ir.types import dtype_name, is_float_dtype


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


def add_n(*arrays, out=None) -> Array:
    """MXNet's add_n: the elementwise sum of arrays of one shape; `out=` is written and returned (it may be
    one of the inputs: the sum is complete before it is written)."""
    if not arrays:
        raise ValueError("npx.add_n needs at least one array")
    values = promote(*arrays)
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) > 1:
        raise ShapeError(f"npx.add_n: the arrays must have one shape, got {[tuple(v.shape) for v in values]}; "
                         f"broadcast them first (np.broadcast_arrays) or sum with np.add")
    total = values[0]
    for v in values[1:]:
        total = total + v
    return write_out(out, total)


def bitcast(x, dtype) -> Array:
    """x's bits read as `dtype` of the same width (NumPy's `x.view(dtype)`, JAX's
    lax.bitcast_convert_type); a bool is one byte holding 0 or 1. Not differentiable."""
    return bind("bitcast", asarray(x), dtype=dtype_name(dtype))


from .npx_arrays import (arange_like, batch_dot, broadcast_like, from_dlpack, from_numpy, gamma,  # noqa: E402,F401
                         gammaln, load, masked_log_softmax, masked_softmax, pick, reshape, save, savez,
                         sequence_mask, slice, smooth_l1, to_dlpack_for_read, to_dlpack_for_write, topk)
from .npx_layers import (elu, group_norm, instance_norm, leaky_relu, log_sigmoid, mish, pixel_shuffle,  # noqa: E402
                         multibox_prior, reflection_pad, roi_pooling, selu)

_ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": np.tanh, "softrelu": softplus, "softplus": softplus,
                "log_sigmoid": log_sigmoid, "mish": mish, "elu": elu, "selu": selu,
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
               use_batch_stats: Optional[bool] = None, fix_gamma: bool = False, momentum: float = 0.9,
               use_global_stats: bool = False, output_mean_var: bool = False, cudnn_off: bool = False):
    """Batch normalization over every axis but `axis`. `cudnn_off` (MXNet's choice of kernel) is accepted
    and changes nothing: hybrid compiles its own kernels on every device.

    Explicit form (what layers use): use_batch_stats=True normalizes with the batch's statistics and
    returns (out, batch_mean, batch_var); False uses the running statistics.
    MXNet form (use_batch_stats left None): batch statistics in training mode unless
    use_global_stats, and then the running statistics are updated in place, eagerly, with
    `momentum` (running = running * momentum + batch * (1 - momentum), the variance unbiased as in
    BatchNorm); output_mean_var also returns the mean used and the inverse standard deviation
    1 / sqrt(var + eps) (MXNet's outputs: the batch's when training, the running ones otherwise)."""
    (x,) = promote(x, to_float=True)
    if use_batch_stats is None:
        from ..core.autograd import is_training
        if not is_training() or use_global_stats:
            out = batch_norm(x, gamma, beta, running_mean, running_var, eps, axis, False, fix_gamma)
            return (out, asarray(running_mean), rsqrt(asarray(running_var) + eps)) if output_mean_var else out
        out, mean, var = batch_norm(x, gamma, beta, running_mean, running_var, eps, axis, True, fix_gamma)
        _update_running(running_mean, running_var, mean, var, momentum, x.size // x.shape[axis % x.ndim])
        return (out, mean, rsqrt(var + eps)) if output_mean_var else out
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


def _update_running(running_mean, running_var, mean, var, momentum: float, count: int) -> None:
    if not (isinstance(running_mean, NDArray) and isinstance(running_var, NDArray)):
        return  # traced: a hybridized BatchNorm layer returns its updates as extra outputs instead
    unbiased = var * (count / max(count - 1, 1))
    running_mean[...] = (running_mean * momentum + np.stop_gradient(mean) * (1 - momentum)).asnumpy()
    running_var[...] = (running_var * momentum + np.stop_gradient(unbiased) * (1 - momentum)).asnumpy()


def _conv_args(x, weight, op: str, kernel, stride, dilate, pad, layout):
    """Normalize MXNet's convolution/pooling arguments for an input of x.ndim dimensions."""
    rank, channel_last = convnd.spatial_rank(layout, x.ndim, op)
    if kernel is not None and weight is not None:
        k_shape = tuple(weight.shape[1:-1] if channel_last else weight.shape[2:])
        if convnd.ntuple(kernel, rank, f"{op} kernel") != k_shape:
            raise ShapeError(f"{op}: kernel={kernel} does not match the weight's kernel dims {k_shape}")
    return (rank, channel_last, convnd.ntuple(1 if stride is None else stride, rank, f"{op} stride"),
            convnd.ntuple(1 if dilate is None else dilate, rank, f"{op} dilate"),
            convnd.ntuple(0 if pad is None else pad, rank, f"{op} pad"))


def convolution(data, weight, bias=None, kernel=None, stride=None, dilate=None, pad=None, num_filter=None,
                num_group: int = 1, no_bias: bool = False, layout: Optional[str] = None, *, padding=None,
                dilation=None, groups: Optional[int] = None, **_unused) -> Array:
    """MXNet's Convolution over 1, 2 or 3 spatial dims: data (N, C, *S) (or channel-last with
    `layout`), weight (O, C/num_group, *K) ((O, *K, C/num_group) channel-last). `padding`,
    `dilation` and `groups` are accepted as PyTorch-style aliases of pad, dilate and num_group."""
    x, weight = promote(data, weight, to_float=True)
    pad, dilate = padding if padding is not None else pad, dilation if dilation is not None else dilate
    groups = groups if groups is not None else num_group
    rank, channel_last, stride, dilate, pad = _conv_args(x, weight, "convolution", kernel, stride, dilate, pad,
                                                         layout)
    if channel_last:
        x, weight = convnd.to_channel_first(x), convnd.to_channel_first(weight)
    if num_filter is not None and num_filter != weight.shape[0]:
        raise ShapeError(f"convolution: num_filter={num_filter} but the weight has {weight.shape[0]} filters")
    out = convnd.conv(x, weight, stride, pad, dilate, groups)
    if bias is not None and not no_bias:
        out = out + _along(bias, 1, out.ndim)
    return convnd.to_channel_last(out) if channel_last else out


def deconvolution(data, weight, bias=None, kernel=None, stride=None, dilate=None, pad=None, adj=None,
                  target_shape=None, num_filter=None, num_group: int = 1, no_bias: bool = False,
                  layout: Optional[str] = None, **_unused) -> Array:
    """MXNet's Deconvolution (transposed convolution, the input gradient of convolution) over
    1-3 spatial dims: weight (C_in, C_out/num_group, *K). `adj` adds output rows at the end;
    `target_shape` picks adj to reach that spatial size."""
    x, weight = promote(data, weight, to_float=True)
    rank, channel_last, stride, dilate, pad = _conv_args(x, weight, "deconvolution", kernel, stride, dilate, pad,
                                                         layout)
    if channel_last:
        x, weight = convnd.to_channel_first(x), convnd.to_channel_first(weight)
    adj = convnd.ntuple(0 if adj is None else adj, rank, "deconvolution adj")
    if target_shape is not None and any(target_shape):
        target = convnd.ntuple(target_shape, rank, "deconvolution target_shape")
        base = [convnd.deconv_size(x.shape[2 + i], weight.shape[2 + i], stride[i], pad[i], dilate[i], 0)
                for i in range(rank)]
        adj = tuple(t - b for t, b in zip(target, base))
        if any(a < 0 for a in adj):
            raise ShapeError(f"deconvolution: target_shape {target} is smaller than the natural output {tuple(base)}")
    out = convnd.deconv(x, weight, stride, pad, dilate, num_group, adj)
    if num_filter is not None and num_filter != out.shape[1]:
        raise ShapeError(f"deconvolution: num_filter={num_filter} but the weight gives {out.shape[1]} channels")
    if bias is not None and not no_bias:
        out = out + _along(bias, 1, out.ndim)
    return convnd.to_channel_last(out) if channel_last else out


def pooling(data, kernel=None, stride=None, pad=None, pool_type: str = "max", global_pool: bool = False,
            count_include_pad: bool = True, layout: Optional[str] = None, pooling_convention: str = "valid",
            **_unused) -> Array:
    """MXNet's Pooling: max or average over 1-3 spatial dims; `global_pool` pools each whole
    feature map; stride defaults to the kernel (a non-overlapping window)."""
    x = asarray(data)
    if pooling_convention not in ("valid", "full"):
        raise ValueError(f"pooling: pooling_convention must be 'valid' (floor) or 'full' (ceil), got "
                         f"{pooling_convention!r}")
    rank, channel_last = convnd.spatial_rank(layout, x.ndim, "pooling")
    if channel_last:
        x = convnd.to_channel_first(x)
    if global_pool:
        out = convnd.global_pool(x, pool_type)
    else:
        kernel = convnd.ntuple(2 if kernel is None else kernel, rank, "pooling kernel")
        stride = convnd.ntuple(kernel if stride is None else stride, rank, "pooling stride")
        pad = convnd.ntuple(0 if pad is None else pad, rank, "pooling pad")
        if pooling_convention == "full":
            x = convnd.ceil_mode_pad(x, kernel, stride, pad, pool_type)
        out = convnd.pool(x, kernel, stride, pad, pool_type, count_include_pad)
    return convnd.to_channel_last(out) if channel_last else out


def dropout(x, p: float = 0.5, training: Optional[bool] = None, axes=()) -> Array:
    """Inverted dropout: in training mode zero each element with probability p and scale the
    rest by 1/(1-p); identity otherwise. `axes` (MXNet's variational dropout) share one mask
    value along those axes. Masks come from the counter-based generator."""
    from ..core.autograd import is_training
    x = asarray(x)
    if not (training if training is not None else is_training()) or p == 0:
        return x
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    shared = {a % x.ndim for a in ((axes,) if isinstance(axes, int) else tuple(axes))}
    mask_shape = tuple(1 if i in shared else d for i, d in enumerate(x.shape))
    keep = np.random.uniform(size=mask_shape, dtype=x.dtype) >= p
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
    # the primitive take (np.take would count negative indices from the end)
    return indices + bind("take", np.zeros((size,), indices.dtype), indices, axis=0)


def set_np(shape: bool = True, array: bool = True, dtype: bool = False) -> None:
    """MXNet's switch to NumPy semantics. hybrid always has NumPy shape and array semantics;
    `dtype=True` turns on NumPy's float64/int64 creation defaults (hybrid's are float32/int32), and
    `dtype=False` (the default) turns them off, as in MXNet."""
    if not (shape and array):
        raise HybridError("npx.set_np(shape=False/array=False): hybrid has only NumPy shape and array "
                          "semantics (the legacy nd/sym modes are not offered)")
    set_numpy_default_dtypes(dtype)


def reset_np() -> None:
    """MXNet's switch back: hybrid stays in NumPy mode; NumPy's float64 defaults are turned off."""
    set_numpy_default_dtypes(False)


def is_np_default_dtype() -> bool:
    """Whether NumPy's float64/int64 creation defaults are on (set_np(dtype=True), np_default_dtype())."""
    return numpy_defaults_active()


def is_np_array() -> bool:
    return True


def is_np_shape() -> bool:
    return True


def embedding(data, weight, input_dim: Optional[int] = None, output_dim: Optional[int] = None, dtype=None,
              sparse_grad: bool = False) -> Array:
    """Rows of `weight` (input_dim, output_dim) picked by integer indices `data` (a negative index is an
    error, as in MXNet, not a count from the end)."""
    weight = asarray(weight)
    if (input_dim is not None and input_dim != weight.shape[0]) or (output_dim is not None and
                                                                    output_dim != weight.shape[1]):
        raise ShapeError(f"npx.embedding: input_dim={input_dim}, output_dim={output_dim} do not match the weight "
                         f"{weight.shape}")
    data = np.asarray(data)
    if is_float_dtype(data.dtype):
        data = data.astype("int32")
    return bind("take", weight, data, axis=0)   # the primitive: np.take would count negatives from the end


def take(a, indices, axis: int = 0) -> Array:
    return np.take(a, indices, axis)


def fully_connected(x, weight, bias=None, num_hidden: Optional[int] = None, no_bias: bool = False,
                    flatten: bool = True) -> Array:
    """x @ weight.T + bias (Gluon's Dense); `flatten` folds all but the first axis into features."""
    x, weight = promote(x, weight, to_float=True)
    if num_hidden is not None and num_hidden != weight.shape[0]:
        raise ShapeError(f"npx.fully_connected: num_hidden={num_hidden} but the weight has {weight.shape[0]} rows")
    if no_bias:
        bias = None
    if flatten and x.ndim != 2:
        x = np.reshape(x, (x.shape[0], -1))
    if x.ndim == 2:
        out = bind("matmul", x, weight, transpose_a=False, transpose_b=True)
    else:
        lead = x.shape[:-1]
        out = np.reshape(bind("matmul", np.reshape(x, (-1, x.shape[-1])), weight, transpose_a=False,
                               transpose_b=True), lead + (weight.shape[0],))
    return out if bias is None else out + bias


# -- MXNet's devices and decorators (set_np / reset_np are above) ----------------------------------
from ..core.context import cpu, current_context, current_device, gpu, num_gpus  # noqa: E402,F401


def use_np(func):
    """Decorator MXNet code puts on blocks and functions; a no-op here (always NumPy semantics)."""
    return func


def waitall() -> None:
    """Wait until every queued eager op and compiled call has run (core/engine.py); raise the first error that
    no read has raised yet (MXNet's npx.waitall)."""
    ENGINE.waitall()


from .npx_control import cond, foreach, while_loop  # noqa: E402,F401  (MXNet's control-flow operators)
from . import npx_image as image  # noqa: E402,F401  (npx.image: MXNet image operators, eager NumPy)
from . import npx_random as random  # noqa: E402,F401  (npx.random: bernoulli, uniform_n, normal_n, seed)
