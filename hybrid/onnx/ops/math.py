"""Elementwise ONNX ops: arithmetic, comparisons, logic, activations, Clip, Cast."""
from __future__ import annotations

import functools
import math

import numpy

from ...frontend import np, npx
from ...core.dispatch import bind
from ...core.promote import cast
from ...ir.types import is_float
from .base import OnnxNode, converts
from .dtypes import hybrid_dtype
from .narrow import NARROW, round_to
from .strings import is_strings, strings_equal


def _unary(fn):
    return lambda node: fn(node.input(0))


for _op, _fn in {"Abs": np.abs, "Neg": np.negative, "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt,
                 "Tanh": np.tanh, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Sinh": np.sinh, "Cosh": np.cosh,
                 "Floor": np.floor, "Ceil": np.ceil, "Sign": np.sign, "Relu": npx.relu,
                 "Sigmoid": npx.sigmoid, "Erf": npx.erf, "Softplus": npx.softplus, "IsNaN": np.isnan,
                 "Not": np.logical_not, "Identity": lambda x: x}.items():
    converts(_op)(_unary(_fn))


@converts("Round")
def _round(node: OnnxNode):
    return np.round(node.input(0))   # both round half to even


@converts("Reciprocal")
def _reciprocal(node: OnnxNode):
    x = node.input(0)
    return np.divide(np.ones((), x.dtype), x)


def _atan(x):
    """atan from an odd polynomial on [0, tan(pi/8)] (Cephes' atanf fit) after the range reductions
    |x| > 1 -> pi/2 - atan(1/|x|) and t > tan(pi/8) -> pi/4 + atan((t-1)/(t+1))."""
    ax = np.abs(x)
    big = ax > 1.0
    t = np.where(big, 1.0 / np.maximum(ax, 1e-30), ax)
    mid = t > 0.4142135623730951
    u = np.where(mid, (t - 1.0) / (t + 1.0), t)
    z = u * u
    p = ((((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * u + u)
    p = np.where(mid, p + math.pi / 4, p)
    p = np.where(big, math.pi / 2 - p, p)
    return np.where(x < 0, -p, p)


def _asin(x):
    return _atan2(x, np.sqrt(np.maximum(1.0 - x * x, 0.0)))


def _atan2(y, x):
    """atan2 for the quadrants asin/acos need (x >= 0 here, so only x == 0 is special)."""
    safe = np.where(x == 0, 1.0, x)
    angle = _atan(y / safe)
    return np.where(x == 0, np.where(y < 0, -math.pi / 2, math.pi / 2), angle)


converts("Atan")(_unary(_atan))
converts("Asin")(_unary(_asin))
converts("Acos")(_unary(lambda x: math.pi / 2 - _asin(x)))
converts("Asinh")(_unary(lambda x: np.sign(x) * np.log(np.abs(x) + np.sqrt(x * x + 1.0))))
converts("Acosh")(_unary(lambda x: np.log(x + np.sqrt(x * x - 1.0))))
converts("Atanh")(_unary(lambda x: np.log((1.0 + x) / (1.0 - x)) * 0.5))


def _int_divide(a, b):
    """ONNX integer Div truncates toward zero (C semantics). Integer floor division, corrected by one
    where the signs differ and the division is inexact, so 64-bit values stay exact (a detour through
    float would round them)."""
    q = np.floor_divide(a, b)
    if a.type.dtype.startswith("u"):
        return q
    inexact = np.logical_and(a - q * b != 0, np.not_equal(a < 0, b < 0))
    return q + cast(inexact, a.type.dtype)


def _div(node: OnnxNode):
    a, b = node.input(0), node.input(1)
    return np.divide(a, b) if is_float(a.type.dtype) else _int_divide(a, b)


converts("Div")(_div)
@converts("Equal")
def _equal(node: OnnxNode):
    if is_strings(node.input(0)) or is_strings(node.input(1)):
        return strings_equal(node)
    return np.equal(node.input(0), node.input(1))


for _op, _fn in {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Less": np.less,
                 "LessOrEqual": np.less_equal, "Greater": np.greater, "GreaterOrEqual": np.greater_equal,
                 "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}.items():
    converts(_op)(lambda node, fn=_fn: fn(node.input(0), node.input(1)))


@converts("Pow")
def _pow(node: OnnxNode):
    x, y = node.input(0), node.input(1)
    if y.type.dtype != x.type.dtype:
        y = cast(y, x.type.dtype)
    return np.power(x, y)


@converts("Mod")
def _mod(node: OnnxNode):
    a, b = node.input(0), node.input(1)
    if node.attr("fmod", 0):   # the sign of the dividend, as C fmod
        return a - b * _trunc(a / b) if is_float(a.type.dtype) else a - b * _int_divide(a, b)
    return np.mod(a, b)


def _trunc(q):
    return np.where(q < 0, np.ceil(q), np.floor(q))


@converts("BitShift")
def _bitshift(node: OnnxNode):
    # the registry's shifts give ONNX's results for amounts outside [0, bits): 0, or -1 for negative >>
    shift = np.left_shift if node.attr("direction") == "LEFT" else np.right_shift
    return shift(node.input(0), node.input(1))


converts("BitwiseAnd")(lambda node: np.bitwise_and(node.input(0), node.input(1)))
converts("BitwiseOr")(lambda node: np.bitwise_or(node.input(0), node.input(1)))
converts("BitwiseXor")(lambda node: np.bitwise_xor(node.input(0), node.input(1)))
converts("BitwiseNot")(lambda node: np.bitwise_not(node.input(0)))


def _variadic(fn):
    return lambda node: functools.reduce(fn, [x for x in node.inputs if x is not None])


converts("Max")(_variadic(np.maximum))
converts("Min")(_variadic(np.minimum))
converts("Sum")(_variadic(np.add))


@converts("Mean")
def _mean(node: OnnxNode):
    xs = [x for x in node.inputs if x is not None]
    return functools.reduce(np.add, xs) / float(len(xs))


@converts("IsInf")
def _isinf(node: OnnxNode):
    x = node.input(0)
    pos, neg = node.attr("detect_positive", 1), node.attr("detect_negative", 1)
    return np.logical_or(np.logical_and(x == math.inf, bool(pos)), np.logical_and(x == -math.inf, bool(neg)))


@converts("Where")
def _where(node: OnnxNode):
    return np.where(node.input(0), node.input(1), node.input(2))


@converts("Clip")
def _clip(node: OnnxNode):
    x = node.input(0)
    if node.opset < 11:
        lo, hi = node.attr("min", None), node.attr("max", None)
    else:
        lo, hi = node.optional(1), node.optional(2)
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


def _cast_to(node: OnnxNode, x, to: int):
    """Cast to an ONNX element type; narrow types (float8, 4-bit, ...) round onto their grid in a carrier."""
    if to in NARROW:
        node.output_types[0] = to
        return round_to(x, to, saturate=bool(node.attr("saturate", 1)), round_mode=node.attr("round_mode", "up"))
    return cast(x, hybrid_dtype(to, node))


@converts("Cast")
def _cast(node: OnnxNode):
    return _cast_to(node, node.input(0), node.attr("to"))


@converts("CastLike")
def _cast_like(node: OnnxNode):
    target = node.input_types[1]
    return _cast_to(node, node.input(0), target) if target else cast(node.input(0), node.input(1).type.dtype)


@converts("BitCast")
def _bitcast(node: OnnxNode):
    to = node.attr("to")
    if to in NARROW or node.input_types[0] in NARROW:
        raise node.fail("BitCast from or to a type narrower than 8 bits (float8, float4, int4, ...) is not supported: "
                        "hybrid carries those values in a wider dtype, whose bits differ")
    return npx.bitcast(node.input(0), hybrid_dtype(to, node))


@converts("Det")
def _det(node: OnnxNode):
    """Gauss-Jordan with partial pivoting when compiled (hybrid.np.linalg.det), LAPACK eagerly."""
    return np.linalg.det(node.input(0))


# -- activations -------------------------------------------------------------------------------------------
@converts("LeakyRelu")
def _leaky_relu(node: OnnxNode):
    return npx.leaky_relu(node.input(0), act_type="leaky", slope=node.attr("alpha", 0.01))


@converts("PRelu")
def _prelu(node: OnnxNode):
    x, slope = node.input(0), node.input(1)
    if slope.ndim == 1 and x.ndim > 2 and slope.shape[0] == x.shape[1] != x.shape[-1]:
        slope = np.reshape(slope, (-1,) + (1,) * (x.ndim - 2))   # a per-channel slope (opset < 7 broadcasting)
    return np.where(x < 0, x * slope, x)


@converts("Elu")
def _elu(node: OnnxNode):
    x = node.input(0)
    return np.where(x < 0, (np.exp(np.minimum(x, 0.0)) - 1.0) * node.attr("alpha", 1.0), x)


@converts("Celu")
def _celu(node: OnnxNode):
    x, alpha = node.input(0), node.attr("alpha", 1.0)
    return np.maximum(x, 0.0) + np.minimum((np.exp(np.minimum(x, 0.0) / alpha) - 1.0) * alpha, 0.0)


@converts("Selu")
def _selu(node: OnnxNode):
    x = node.input(0)
    alpha, gamma = node.attr("alpha", 1.67326319217681884765625), node.attr("gamma", 1.05070102214813232421875)
    return np.where(x <= 0, (np.exp(np.minimum(x, 0.0)) - 1.0) * alpha, x) * gamma


@converts("ThresholdedRelu")
def _thresholded_relu(node: OnnxNode):
    x = node.input(0)
    return np.where(x > node.attr("alpha", 1.0), x, 0.0)


@converts("HardSigmoid")
def _hard_sigmoid(node: OnnxNode):
    x = node.input(0)
    return np.clip(x * node.attr("alpha", 0.2) + node.attr("beta", 0.5), 0.0, 1.0)


@converts("HardSwish")
def _hard_swish(node: OnnxNode):
    x = node.input(0)
    return x * np.clip(x * (1.0 / 6) + 0.5, 0.0, 1.0)


@converts("Softsign")
def _softsign(node: OnnxNode):
    x = node.input(0)
    return x / (np.abs(x) + 1.0)


@converts("Mish")
def _mish(node: OnnxNode):
    x = node.input(0)
    return x * np.tanh(npx.softplus(x))


@converts("Gelu")
def _gelu(node: OnnxNode):
    return npx.gelu(node.input(0), node.attr("approximate", "none"))


@converts("Shrink")
def _shrink(node: OnnxNode):
    x = node.input(0)
    bias, lambd = node.attr("bias", 0.0), node.attr("lambd", 0.5)
    out = np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, np.zeros((), x.dtype)))
    return out


@converts("Dropout")
def _dropout(node: OnnxNode):
    """Inference semantics (ONNX runtimes run Dropout as identity unless training_mode is set)."""
    x = node.input(0)
    if node.has(2) and bool(node.const(2)):
        raise node.fail("training_mode=True dropout is a training op; hybrid imports models for inference "
                        "and fine-tuning through its own npx.dropout")
    if node.num_outputs > 1:
        return x, np.full(x.shape, True, "bool")
    return x


@converts("Swish")
def _swish(node: OnnxNode):
    x = node.input(0)
    return x * npx.sigmoid(x * node.attr("alpha", 1.0))
