"""Linear quantization ops (8-, 16-, 4- and 2-bit integers, float8, float4): (De)QuantizeLinear,
DynamicQuantizeLinear and the integer / QLinear matmul and convolution, computed in float and rounded
back as ONNX specifies."""
from __future__ import annotations

import ml_dtypes
import numpy

from ...frontend import np
from ...core.promote import cast
from ...ir.types import to_numpy_dtype
from .base import OnnxNode, converts, normalize_axis
from .dtypes import hybrid_dtype
from .narrow import NARROW, round_to
from .nn import _conv


def _along(node: OnnxNode, v, x, axis_default: int = 1):
    """A per-tensor, per-axis (1-d) or blocked scale / zero point shaped to broadcast against x."""
    if v.ndim == 0 or v.size == 1 and v.ndim <= 1:
        return np.reshape(v, ())
    axis = normalize_axis(node.attr("axis", axis_default), x.ndim, node)
    block = node.attr("block_size", 0)
    if block:
        return np.repeat(v, block, axis=axis)[tuple(slice(0, d) for d in x.shape)]
    return np.reshape(v, tuple(-1 if i == axis else 1 for i in range(x.ndim)))


def _saturate(v, dtype: str):
    info = numpy.iinfo(to_numpy_dtype(dtype))
    return cast(np.clip(np.round(v), float(info.min), float(info.max)), dtype)


@converts("DequantizeLinear")
def _dequantize(node: OnnxNode):
    x, scale = node.input(0), node.input(1)
    zero = node.optional(2)
    values = cast(x, scale.type.dtype)
    if zero is not None:
        values = values - cast(_along(node, zero, x), scale.type.dtype)
    out = values * _along(node, scale, x)
    if "output_dtype" in node.attrs and node.attr("output_dtype"):
        out = cast(out, hybrid_dtype(node.attr("output_dtype"), node))
    return out


@converts("QuantizeLinear")
def _quantize(node: OnnxNode):
    x, scale = node.input(0), node.input(1)
    zero = node.optional(2)
    narrow = node.input_types[2] if zero is not None else node.attr("output_dtype", 0) or None
    if zero is not None:
        dtype = zero.type.dtype
    elif node.attr("output_dtype", 0):
        dtype = hybrid_dtype(node.attr("output_dtype"), node, narrow=True)
    else:
        dtype = "u8"
    values = cast(x, scale.type.dtype) / _along(node, scale, x)
    if narrow in NARROW and NARROW[narrow].carrier == "f32":   # float8 / float4: a saturating cast
        if zero is not None:
            values = values + cast(_along(node, zero, x), values.type.dtype)
        node.output_types[0] = narrow
        return round_to(values, narrow, saturate=bool(node.attr("saturate", 1)))
    if dtype not in ("u8", "i8", "u16", "i16"):
        raise node.fail(f"quantizing to {dtype} is not supported (8- and 16-bit integers, float8 and 4- and "
                        "2-bit integers are)")
    values = np.round(values)   # round half to even, as ONNX
    if zero is not None:
        values = values + cast(_along(node, zero, x), values.type.dtype)
    if narrow in NARROW:   # 4- / 2-bit integers: saturate to their range in the 8-bit carrier
        node.output_types[0] = narrow
        info = ml_dtypes.iinfo(NARROW[narrow].numpy)
        return cast(np.clip(values, float(info.min), float(info.max)), dtype)
    return _saturate(values, dtype)


@converts("DynamicQuantizeLinear")
def _dynamic_quantize(node: OnnxNode):
    x = node.input(0)
    lo = np.minimum(np.min(x), 0.0)
    hi = np.maximum(np.max(x), 0.0)
    scale = (hi - lo) / 255.0
    zero = _saturate(np.round(-lo / scale), "u8")
    y = _saturate(np.round(x / scale) + cast(zero, x.type.dtype), "u8")
    return y, scale, zero


def _centered(x, zero, node: OnnxNode, axis: int):
    """x - zero_point in float32 (exact for 8-bit operands and sums below 2**24)."""
    values = cast(x, "f32")
    if zero is None:
        return values
    z = cast(zero, "f32")
    if z.ndim == 1 and z.size > 1:
        z = np.reshape(z, tuple(-1 if i == axis % x.ndim else 1 for i in range(x.ndim)))
    return values - z


@converts("MatMulInteger")
def _matmul_integer(node: OnnxNode):
    a, b = node.input(0), node.input(1)
    product = np.matmul(_centered(a, node.optional(2), node, -2), _centered(b, node.optional(3), node, -1))
    return cast(product, "i32")


@converts("ConvInteger")
def _conv_integer(node: OnnxNode):
    x, w = node.input(0), node.input(1)
    shifted = OnnxNode(node.op_type, node.name, node.opset, node.attrs,
                       [_centered(x, node.optional(2), node, 1), _centered(w, node.optional(3), node, 0)], 1)
    return cast(_conv(shifted), "i32")


def _dequantized(node: OnnxNode, first: int, axis: int):
    x, scale, zero = node.input(first), node.input(first + 1), node.input(first + 2)
    values = _centered(x, zero, node, axis)
    s = cast(scale, "f32")
    if s.ndim == 1 and s.size > 1:
        s = np.reshape(s, tuple(-1 if i == axis % x.ndim else 1 for i in range(x.ndim)))
    return values * s


@converts("QLinearMatMul")
def _qlinear_matmul(node: OnnxNode):
    a = _dequantized(node, 0, -2)
    b = _dequantized(node, 3, -1)
    y_scale, y_zero = cast(node.input(6), "f32"), node.input(7)
    return _saturate(np.round(np.matmul(a, b) / y_scale) + cast(y_zero, "f32"), y_zero.type.dtype)


@converts("QLinearConv")
def _qlinear_conv(node: OnnxNode):
    x = _dequantized(node, 0, 1)
    w = _dequantized(node, 3, 0)
    bias = node.optional(8)
    inputs = [x, w] + ([cast(bias, "f32") * np.reshape(cast(node.input(1), "f32") * cast(node.input(4), "f32"), (-1,))]
                       if bias is not None else [])
    y = _conv(OnnxNode("Conv", node.name, node.opset, node.attrs, inputs, 1))
    y_scale, y_zero = cast(node.input(6), "f32"), node.input(7)
    return _saturate(np.round(y / y_scale) + cast(y_zero, "f32"), y_zero.type.dtype)
