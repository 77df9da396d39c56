"""NumPy's remaining real-dtype ufuncs as registry entries: inverse trigonometric and hyperbolic
functions (sinh, arcsinh, log1p, expm1 are elementwise.py's), log2/log10/exp2/cbrt, trunc, hypot,
logaddexp(2), arctan2, copysign,
fmax/fmin/fmod, heaviside, floor_divide, and the bitwise operations and shifts.

Each is one entry: the NumPy function as reference (eager, interp, constant folding) and a
scalar expression composed from hybrid.ir.scalar's small op set, so the LLVM and CUDA backends
compile it without new code. The compositions are the accurate textbook forms (log1p-based
inverse hyperbolics, Cephes' single-precision arctangent); in float64 the compiled arctangent
family is accurate to float32's precision (docs/semantics.md).
"""
from __future__ import annotations

import math

import numpy

from ...errors import ShapeError
from .. import scalar as S
from ..registry import OpDef, register
from ..types import INT_DTYPES, TensorType, is_complex, is_float
from .common import broadcast_shapes, same_dtype
from .elementwise import binary, unary
from .gradkit import apply, lax, unbroadcast, where


def _quiet(fn):
    def ref(*args):
        with numpy.errstate(all="ignore"):
            return numpy.asarray(fn(*args)).astype(args[0].dtype, copy=False)
    return ref


# -- scalar building blocks --------------------------------------------------------------
def _abs(x):
    return S.call("abs", x)


def _and(a, b):
    return S.call("and", a, b)


def _atan(x):
    """Cephes' atan: reduce |x| to [0, 0.66], then its rational approximation, accurate to float64
    (a float32 polynomial would leave float64 results 1e-8 off; complex log reads atan2 too)."""
    ax = _abs(x)
    big = ax > 2.414213562373095
    mid = ax > 0.66
    xr = S.select(big, -1.0 / ax, S.select(mid, (ax - 1.0) / (ax + 1.0), ax))
    base = S.select(big, math.pi / 2, S.select(mid, math.pi / 4, 0.0))
    z = xr * xr
    p = (((-8.750608600031904122785e-1 * z - 1.615753718733365076637e1) * z - 7.500855792314704667340e1) * z
         - 1.228866684490136173410e2) * z - 6.485021904942025371773e1
    q = ((((z + 2.485846490142306297962e1) * z + 1.650270098316988542046e2) * z + 4.328810604912902668951e2) * z
         + 4.853903996359136964868e2) * z + 1.945506571482613964425e2
    r = base + (xr * z * p / q + xr)
    return S.select(_signbit(x), -r, r)       # atan(-0) = -0


def _atan2(y, x):
    """C99's atan2, signed zeros included (the side of a branch cut complex log and its inverse
    functions take depends on them): atan2(-0, x < 0) = -pi, atan2(+-0, -0) = +-pi."""
    y_neg = _signbit(y)
    a = S.select(S.call("eq", x, 0.0), S.select(y_neg, -math.pi / 2, math.pi / 2) * 1.0, _atan(y / x))
    quadrant = S.select(x < 0.0, S.select(y_neg, a - math.pi, a + math.pi), a)
    on_axis = S.select(_signbit(x), math.pi, 0.0) * 1.0
    return S.select(_and(S.call("eq", x, 0.0), S.call("eq", y, 0.0)), S.select(y_neg, -on_axis, on_axis), quadrant)


def _signbit(x):
    """x < 0, and -0.0 (whose reciprocal is -inf)."""
    return S.call("or", x < 0.0, _and(S.call("eq", x, 0.0), 1.0 / x < 0.0))


def _trunc(x):
    return S.select(x < 0.0, S.call("ceil", x), S.call("floor", x))


def _cbrt(x):
    """|x|^(1/3) with the sign of x, polished by one Newton step."""
    y = S.call("pow", _abs(x), 1.0 / 3.0)
    y = y - (y * y * y - _abs(x)) / (3.0 * y * y)
    return S.select(S.call("eq", x, 0.0), x, S.select(x < 0.0, -y, y))


def _hypot(a, b):
    m = S.call("max", _abs(a), _abs(b))
    r = S.call("min", _abs(a), _abs(b)) / m
    return S.select(S.call("eq", m, 0.0), 0.0 * m, m * S.call("sqrt", 1.0 + r * r))


def _logaddexp(a, b, scale=1.0):
    """max + log1p(exp(-|a - b|)) (in base 2 with scale = ln 2); a == b (both inf too) gives a + log(2)."""
    m = S.call("max", a, b)
    d = _abs(a - b)
    return S.select(S.call("eq", a, b), a + (math.log(2.0) / scale), m + S.call("log1p", S.call("exp", -(d * scale))) / scale)


def _fmax_fmin(op):
    def expr(a, b):
        return S.select(S.call("ne", b, b), a, S.select(S.call("ne", a, a), b, S.call(op, a, b)))
    return expr


def _fmod(a, b):
    """C fmod (the sign of the dividend) from NumPy's mod (the sign of the divisor)."""
    m = S.call("mod", a, b)
    differ = _and(S.call("ne", m, 0.0), S.call("ne", m < 0.0, a < 0.0))
    return S.select(differ, m - b, m)


def _heaviside(x, h0):
    return S.select(x < 0.0, 0.0 * x, S.select(x > 0.0, 0.0 * x + 1.0, S.select(S.call("eq", x, 0.0), h0, x)))


# -- gradients ---------------------------------------------------------------------------
def _g1(rule):
    """A unary gradient from d(output)/d(input) (x: input, y: output)."""
    return lambda g, i, o: [g * rule(i[0], o[0])]


def _hypot_grad(g, inputs, outputs):
    (a, b), (y,) = inputs, outputs
    safe = where(y == 0, 1.0, y)
    return [unbroadcast(g * a / safe, a.shape), unbroadcast(g * b / safe, b.shape)]


def _logaddexp_grad(scale):
    """d/da log(e^(sa) + e^(sb)) / s = e^(s(a - y)) (s = 1, or ln 2 in base 2)."""
    def grad(g, inputs, outputs):
        (a, b), (y,) = inputs, outputs
        wa, wb = lax().exp((a - y) * scale), lax().exp((b - y) * scale)
        return [unbroadcast(g * wa, a.shape), unbroadcast(g * wb, b.shape)]
    return grad


def _atan2_grad(g, inputs, outputs):
    (y, x), _ = inputs, outputs
    r2 = x * x + y * y
    r2 = where(r2 == 0, 1.0, r2)
    return [unbroadcast(g * x / r2, y.shape), unbroadcast(-(g * y) / r2, x.shape)]


def _select_nan_grad(pick_first):
    """fmax/fmin: the cotangent goes to the chosen operand (the non-NaN one; ties to the first)."""
    def grad(g, inputs, outputs):
        a, b = inputs
        chosen_a = apply("logical_or", b != b, pick_first(a, b))
        return [unbroadcast(where(chosen_a, g, 0.0), a.shape), unbroadcast(where(chosen_a, 0.0, g), b.shape)]
    return grad


def _copysign_grad(g, inputs, outputs):
    a, b = inputs
    flip = 1.0 - 2.0 * apply("cast", apply("signbit", b), dtype=a.type.dtype)   # -1 where b's sign bit is set
    return [unbroadcast(g * apply("sign", a) * flip, a.shape), None]


LN2, LN10 = math.log(2.0), math.log(10.0)

# -- unary float ufuncs -----------------------------------------------------------------
unary("arctan", numpy.arctan, _atan, grad=_g1(lambda x, y: 1.0 / (1.0 + x * x)))
def _rsqrt_product(a, b):
    """1 / sqrt(a b); for complex values 1 / (sqrt(a) sqrt(b)), the principal branches the
    inverse functions' derivatives take (sqrt(a b) may be the other root)."""
    if is_complex(a.type.dtype):
        return 1.0 / (apply("sqrt", a) * apply("sqrt", b))
    return apply("rsqrt", a * b)


unary("arcsin", _quiet(numpy.arcsin), lambda x: _atan(x / S.call("sqrt", (1.0 - x) * (1.0 + x))),
      grad=_g1(lambda x, y: _rsqrt_product(1.0 - x, 1.0 + x)))
unary("arccos", _quiet(numpy.arccos), lambda x: 2.0 * _atan(S.call("sqrt", (1.0 - x) / (1.0 + x))),
      grad=_g1(lambda x, y: -_rsqrt_product(1.0 - x, 1.0 + x)))
unary("arccosh", _quiet(numpy.arccosh), lambda x: S.call("log", x + S.call("sqrt", (x - 1.0) * (x + 1.0))),
      grad=_g1(lambda x, y: _rsqrt_product(x - 1.0, x + 1.0)))
unary("arctanh", _quiet(numpy.arctanh), lambda x: 0.5 * S.call("log1p", 2.0 * x / (1.0 - x)),
      grad=_g1(lambda x, y: 1.0 / ((1.0 - x) * (1.0 + x))))
unary("tan", numpy.tan, lambda x: S.call("sin", x) / S.call("cos", x), grad=_g1(lambda x, y: 1.0 + y * y))
unary("cosh", _quiet(numpy.cosh), lambda x: 0.5 * (S.call("exp", x) + S.call("exp", -x)),
      grad=_g1(lambda x, y: apply("sinh", x)))
unary("log2", _quiet(numpy.log2), lambda x: S.call("log", x) * (1.0 / LN2), grad=_g1(lambda x, y: (1.0 / LN2) / x))
unary("log10", _quiet(numpy.log10), lambda x: S.call("log", x) * (1.0 / LN10),
      grad=_g1(lambda x, y: (1.0 / LN10) / x))
unary("exp2", _quiet(numpy.exp2), lambda x: S.call("exp", x * LN2), grad=_g1(lambda x, y: y * LN2))
unary("cbrt", numpy.cbrt, _cbrt, grad=_g1(lambda x, y: 1.0 / (3.0 * where(y == 0, math.inf, y * y))))
unary("trunc", numpy.trunc, _trunc, float_only=False, differentiable=False)


def _signbit_infer(types):
    (t,) = types
    if not is_float(t.dtype):
        raise ShapeError(f"needs a floating-point input, got {t.dtype}")
    return TensorType(t.shape, "bool")


register(OpDef("signbit", _signbit_infer, numpy.signbit, "elementwise", scalar=_signbit, differentiable=False))


# -- binary float ufuncs ----------------------------------------------------------------
binary("arctan2", numpy.arctan2, _atan2, grad=_atan2_grad, needs="float")
binary("hypot", numpy.hypot, _hypot, grad=_hypot_grad, commutative=True, needs="float")
binary("logaddexp", _quiet(numpy.logaddexp), _logaddexp, grad=_logaddexp_grad(1.0), commutative=True, needs="float")
binary("logaddexp2", _quiet(numpy.logaddexp2), lambda a, b: _logaddexp(a, b, LN2), grad=_logaddexp_grad(LN2),
       commutative=True, needs="float")
binary("copysign", numpy.copysign, lambda a, b: S.select(_signbit(b), -_abs(a), _abs(a)), needs="float",
       grad=_copysign_grad)
binary("fmax", numpy.fmax, _fmax_fmin("max"), commutative=True, grad=_select_nan_grad(lambda a, b: a >= b))
binary("fmin", numpy.fmin, _fmax_fmin("min"), commutative=True, grad=_select_nan_grad(lambda a, b: a <= b))
binary("fmod", _quiet(numpy.fmod), _fmod, differentiable=False)
binary("heaviside", numpy.heaviside, _heaviside, needs="float", differentiable=False)
binary("floor_divide", _quiet(numpy.floor_divide), lambda a, b: S.call("floordiv", a, b), differentiable=False)


# -- bitwise (integers and bool) --------------------------------------------------------
def _bitwise_infer(shifts: bool):
    def infer(types):
        dtype = same_dtype(types)
        allowed = INT_DTYPES if shifts else INT_DTYPES + ("bool",)
        if dtype not in allowed:
            raise ShapeError(f"needs {'integer' if shifts else 'integer or boolean'} operands, got {dtype}")
        return TensorType(broadcast_shapes(*(t.shape for t in types)), dtype)
    return infer


def _bitwise(name, ref, scalar, shifts=False, commutative=False):
    register(OpDef(name, _bitwise_infer(shifts), ref, "elementwise", scalar=scalar, commutative=commutative,
                   inplace=True, differentiable=False))


_bitwise("bitwise_and", numpy.bitwise_and, lambda a, b: S.call("bitand", a, b), commutative=True)
_bitwise("bitwise_or", numpy.bitwise_or, lambda a, b: S.call("bitor", a, b), commutative=True)
_bitwise("bitwise_xor", numpy.bitwise_xor, lambda a, b: S.call("bitxor", a, b), commutative=True)
_bitwise("invert", numpy.invert, lambda a: S.call("bitnot", a))


def _shift_ref(fn):
    """NumPy's shifts (amounts outside [0, bits) give 0, or -1 for a negative value shifted right)."""
    def ref(a, b):
        bits = a.dtype.itemsize * 8
        inside = (b >= 0) & (b < bits)
        shifted = fn(a, numpy.where(inside, b, 0).astype(b.dtype))
        outside = numpy.where(a < 0, -1, 0).astype(a.dtype) if fn is numpy.right_shift else 0
        return numpy.where(inside, shifted, outside).astype(a.dtype)
    return ref


_bitwise("left_shift", _shift_ref(numpy.left_shift), lambda a, b: S.call("lshift", a, b), shifts=True)
_bitwise("right_shift", _shift_ref(numpy.right_shift), lambda a, b: S.call("rshift", a, b), shifts=True)
