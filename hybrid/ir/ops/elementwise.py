"""Elementwise ops: unary, binary (NumPy broadcasting), where, cast.

Each is one entry: shape rule (from the kind), NumPy reference, scalar expression, gradient.
"""
from __future__ import annotations

import math

import numpy

from ...errors import ShapeError
from .. import scalar as S
from ..registry import OpDef, register
from ..types import (COMPLEX_PART, TensorType, dtype_name, is_complex, is_float, is_float_dtype, is_inexact, is_integer,
                     to_numpy_dtype)
from .common import broadcast_shapes, same_dtype
from .gradkit import apply, lax, unbroadcast, where


# NumPy ufuncs defined for complex numbers too (their references compute them; codegen lowers the
# complex arithmetic it supports in passes/lower_complex.py and names the others)
COMPLEX_UNARY = frozenset({"neg", "abs", "exp", "log", "sqrt", "tanh", "expm1", "log1p", "sinh", "arcsinh", "sin",
                           "cos", "tan", "cosh", "log2", "log10", "exp2", "arctan", "arcsin", "arccos", "arccosh",
                           "arctanh", "sign", "stop_gradient"})


def _unary_infer(float_only: bool, name: str):
    def infer(types):
        (t,) = types
        if is_complex(t.dtype):
            if name not in COMPLEX_UNARY:
                raise ShapeError(f"is not defined for complex numbers (got {t.dtype}); apply it to np.real/np.imag")
            return TensorType(t.shape, COMPLEX_PART[t.dtype]) if name == "abs" else t
        if float_only and not is_float(t.dtype):
            raise ShapeError(f"needs a floating-point input, got {t.dtype}; cast with astype('float32')")
        return t
    return infer


COMPLEX_BINARY = frozenset({"div", "pow"})   # of the float-only binary ops, those NumPy defines for complex too


def _binary_infer(result_dtype=None, needs=None, name=""):
    def infer(types):
        a, b = types
        dtype = same_dtype(types)
        if needs == "float" and not is_float(dtype) and not (is_complex(dtype) and name in COMPLEX_BINARY):
            raise ShapeError(f"needs floating-point operands, got {dtype}")
        if needs == "bool" and dtype != "bool":
            raise ShapeError(f"needs boolean operands, got {dtype}")
        return TensorType(broadcast_shapes(a.shape, b.shape), result_dtype or dtype)
    return infer


def unary(name, ref, scalar, grad=None, float_only=True, differentiable=True, doc=""):
    return register(OpDef(name, _unary_infer(float_only, name), ref, "elementwise", grad=grad, scalar=scalar,
                          inplace=True, differentiable=differentiable, doc=doc))


def binary(name, ref, scalar, grad=None, commutative=False, result_dtype=None, needs=None, differentiable=True):
    return register(OpDef(name, _binary_infer(result_dtype, needs, name), ref, "elementwise", grad=grad, scalar=scalar,
                          commutative=commutative, inplace=result_dtype is None, differentiable=differentiable))


def _erf_reference(x):
    try:
        from scipy.special import erf
        return erf(x).astype(x.dtype)
    except ImportError:
        return numpy.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def _sigmoid_reference(x):
    return numpy.exp(-numpy.logaddexp(x.dtype.type(0), -x)).astype(x.dtype)


def _rsqrt_reference(x):
    with numpy.errstate(divide="ignore"):
        return (x.dtype.type(1) / numpy.sqrt(x)).astype(x.dtype)


def _relu_reference(x):
    return numpy.where(x < 0, x.dtype.type(0), x)


def _quiet(fn):
    """NumPy reference that follows IEEE (inf/nan) without printing warnings."""
    def ref(*args):
        with numpy.errstate(all="ignore"):
            return fn(*args)
    return ref


# -- gradient rules (g: output cotangent; x/a/b: inputs; y: output) ---------------------
def _safe_log(a):
    """log(a) where a > 0 (complex a: a != 0), else 0: the pow exponent's gradient, finite elsewhere."""
    positive = (a != 0) if is_complex(a.type.dtype) else (a > 0)
    return where(positive, lax().log(where(positive, a, 1.0)), 0.0)


def _pow_grad(g, inputs, outputs):
    (a, b), (y,) = inputs, outputs
    return [unbroadcast(g * b * a ** (b - 1.0), a.shape), unbroadcast(g * y * _safe_log(a), b.shape)]


def _select_grad(mask_fn):
    """maximum/minimum: the cotangent goes to the chosen operand (ties to the first)."""
    def grad(g, inputs, outputs):
        a, b = inputs
        mask = mask_fn(a, b)
        return [unbroadcast(where(mask, g, 0.0), a.shape), unbroadcast(where(mask, 0.0, g), b.shape)]
    return grad


def _sinh_scalar(x):
    """sign(x) * (u + u / (u + 1)) / 2 with u = expm1(|x|) (no cancellation near 0); beyond |x| = 10,
    where exp(-|x|) no longer counts, exp(|x|/2)^2 / 2 (finite up to sinh's own overflow at 89.4)."""
    a = S.call("abs", x)
    u = S.call("expm1", a)
    h = S.call("exp", a * 0.5)
    v = S.select(a > 10.0, h * (h * 0.5), (u + u / (u + 1.0)) * 0.5)
    return _odd(x, v)


def _odd(x, v):
    """sign(x) * v for v = f(|x|) of an odd f: +-0 and nan pass through."""
    return S.select(x < 0.0, -v, S.select(S.call("eq", x, 0.0), x, v))


def _arcsinh_scalar(x):
    """sign(x) * log1p(a + a^2 / (1 + sqrt(1 + a^2))) with a = |x|; beyond a = 2^12, where the
    1 no longer counts, log(a) + log(2) (a^2 would overflow first). +-0 and nan pass through."""
    a = S.call("abs", x)
    a2 = a * a
    small = S.call("log1p", a + a2 / (1.0 + S.call("sqrt", 1.0 + a2)))
    big = S.call("log", a) + math.log(2.0)
    return _odd(x, S.select(a > 4096.0, big, small))


# -- unary ------------------------------------------------------------------------------
unary("neg", numpy.negative, lambda x: -x, float_only=False, grad=lambda g, i, o: [-g])
unary("abs", numpy.abs, lambda x: S.call("abs", x), float_only=False,
      grad=lambda g, i, o: [g * apply("sign", i[0])])
unary("exp", _quiet(numpy.exp), lambda x: S.call("exp", x), grad=lambda g, i, o: [g * o[0]])
unary("log", _quiet(numpy.log), lambda x: S.call("log", x), grad=lambda g, i, o: [g / i[0]])
unary("sqrt", _quiet(numpy.sqrt), lambda x: S.call("sqrt", x), grad=lambda g, i, o: [g / o[0] * 0.5])
unary("rsqrt", _rsqrt_reference, lambda x: S.call("rsqrt", x), grad=lambda g, i, o: [g * o[0] * o[0] * o[0] * -0.5])
unary("tanh", numpy.tanh, lambda x: S.call("tanh", x), grad=lambda g, i, o: [g * (1.0 - o[0] * o[0])])
unary("sigmoid", _sigmoid_reference, lambda x: 1.0 / (1.0 + S.call("exp", -x)),
      grad=lambda g, i, o: [g * o[0] * (1.0 - o[0])])
unary("relu", _relu_reference, lambda x: S.select(x < 0.0, 0.0, x), float_only=False,
      grad=lambda g, i, o: [where(i[0] > 0, g, 0.0)])
unary("erf", _erf_reference, lambda x: S.call("erf", x),
      grad=lambda g, i, o: [g * lax().exp(-(i[0] * i[0])) * (2.0 / math.sqrt(math.pi))])
unary("expm1", _quiet(numpy.expm1), lambda x: S.call("expm1", x), grad=lambda g, i, o: [g * (o[0] + 1.0)],
      doc="exp(x) - 1, accurate near 0")
unary("log1p", _quiet(numpy.log1p), lambda x: S.call("log1p", x), grad=lambda g, i, o: [g / (i[0] + 1.0)],
      doc="log(1 + x), accurate near 0")
# cosh(x) = |sinh(x)| + exp(-|x|): finite wherever sinh is
unary("sinh", _quiet(numpy.sinh), _sinh_scalar,
      grad=lambda g, i, o: [g * (apply("cosh", i[0]) if is_complex(i[0].type.dtype)
                                 else apply("abs", o[0]) + lax().exp(-apply("abs", i[0])))])
unary("arcsinh", _quiet(numpy.arcsinh), _arcsinh_scalar,
      grad=lambda g, i, o: [g / apply("sqrt", i[0] * i[0] + 1.0)])
unary("sin", numpy.sin, lambda x: S.call("sin", x), grad=lambda g, i, o: [g * lax().cos(i[0])])
unary("cos", numpy.cos, lambda x: S.call("cos", x), grad=lambda g, i, o: [-(g * lax().sin(i[0]))])
unary("floor", numpy.floor, lambda x: S.call("floor", x), differentiable=False)
unary("ceil", numpy.ceil, lambda x: S.call("ceil", x), differentiable=False)
unary("round", numpy.round, lambda x: S.call("round", x), differentiable=False)
unary("sign", numpy.sign, lambda x: S.select(x > 0, 1, S.select(x < 0, -1, x * 0)), float_only=False,
      differentiable=False)
unary("stop_gradient", numpy.copy, lambda x: x, float_only=False, differentiable=False,
      doc="identity whose gradient is zero")
def _logical_not_infer(types):
    (t,) = types
    if t.dtype != "bool":
        raise ShapeError(f"needs a boolean operand, got {t.dtype}; compare first (x != 0) or use np.logical_not")
    return t


register(OpDef("logical_not", _logical_not_infer, numpy.logical_not, "elementwise",
               scalar=lambda x: S.call("not", x), inplace=True, differentiable=False))

# -- binary -----------------------------------------------------------------------------
binary("add", numpy.add, lambda a, b: a + b, commutative=True,
       grad=lambda g, i, o: [unbroadcast(g, i[0].shape), unbroadcast(g, i[1].shape)])
binary("sub", numpy.subtract, lambda a, b: a - b,
       grad=lambda g, i, o: [unbroadcast(g, i[0].shape), unbroadcast(-g, i[1].shape)])
binary("mul", numpy.multiply, lambda a, b: a * b, commutative=True,
       grad=lambda g, i, o: [unbroadcast(g * i[1], i[0].shape), unbroadcast(g * i[0], i[1].shape)])
binary("div", _quiet(numpy.true_divide), lambda a, b: a / b, needs="float",
       grad=lambda g, i, o: [unbroadcast(g / i[1], i[0].shape), unbroadcast(-(g * o[0]) / i[1], i[1].shape)])
binary("pow", _quiet(numpy.power), lambda a, b: S.call("pow", a, b), grad=_pow_grad)
binary("mod", _quiet(numpy.mod), lambda a, b: S.call("mod", a, b), differentiable=False)
binary("maximum", numpy.maximum, lambda a, b: S.call("max", a, b), commutative=True,
       grad=_select_grad(lambda a, b: a >= b))
binary("minimum", numpy.minimum, lambda a, b: S.call("min", a, b), commutative=True,
       grad=_select_grad(lambda a, b: a <= b))
for _name, _ref in [("lt", numpy.less), ("le", numpy.less_equal), ("gt", numpy.greater),
                    ("ge", numpy.greater_equal), ("eq", numpy.equal), ("ne", numpy.not_equal)]:
    binary(_name, _ref, (lambda op: lambda a, b: S.call(op, a, b))(_name), result_dtype="bool",
           commutative=_name in ("eq", "ne"), differentiable=False)
binary("logical_and", numpy.logical_and, lambda a, b: S.call("and", a, b), commutative=True, needs="bool",
       differentiable=False)
binary("logical_or", numpy.logical_or, lambda a, b: S.call("or", a, b), commutative=True, needs="bool",
       differentiable=False)


# -- where, cast ------------------------------------------------------------------------
def _where_infer(types):
    cond, a, b = types
    if cond.dtype != "bool":
        raise ShapeError(f"condition must be bool, got {cond.dtype}")
    dtype = same_dtype([a, b])
    return TensorType(broadcast_shapes(cond.shape, a.shape, b.shape), dtype)


def _where_grad(g, inputs, outputs):
    cond, a, b = inputs
    return [None, unbroadcast(where(cond, g, 0.0), a.shape), unbroadcast(where(cond, 0.0, g), b.shape)]


register(OpDef("where", _where_infer, numpy.where, "elementwise",
               scalar=lambda c, a, b: S.select(c, a, b), grad=_where_grad))


def _cast_infer(types, dtype):
    (t,) = types
    return TensorType(t.shape, dtype_name(dtype))


def _numeric(dtype: str) -> bool:
    return is_inexact(dtype) or is_integer(dtype)


def _cast_grad(g, inputs, outputs, dtype):
    """The cotangent cast back; integers take part only on a path from an attached integer array
    (hybrid.core.tape.carries_gradient): a float -> int cast of a float path is never differentiated."""
    (x,) = inputs
    return [apply("cast", g, dtype=x.type.dtype) if _numeric(x.type.dtype) and _numeric(dtype_name(dtype)) else None]


def float_to_int(x: numpy.ndarray, dtype: str) -> numpy.ndarray:
    """Float -> integer cast, defined everywhere. Truncate toward zero; i8/u8/i16/u16/i32 go through
    int32 and i64/u32 through int64 (wrapping to the narrower type), as NumPy does on x86-64 (so
    -3.7 -> uint8 is 253). u64 goes through int64 below 2**63 (so -3.7 wraps as for the others) and
    is exact in [2**63, 2**64). Outside that range (NaN, +-inf, huge) NumPy is undefined; hybrid
    gives the range's minimum (u32: 0; u64: 2**63, int64's minimum reinterpreted, as NumPy gives
    for NaN). Every backend implements exactly this."""
    dtype = dtype_name(dtype)
    x = x.astype(numpy.float64)
    if dtype == "u64":
        return _float_to_u64(x)
    wide = numpy.int64 if dtype in ("i64", "u32") else numpy.int32
    lo = float(numpy.iinfo(wide).min)
    hi = 2.0 ** 32 if dtype == "u32" else -lo
    with numpy.errstate(invalid="ignore"):
        inside = (x >= lo) & (x < hi)
    t = numpy.where(inside, x, 0.0).astype(wide)
    return numpy.where(inside, t, wide(0 if dtype == "u32" else lo)).astype(to_numpy_dtype(dtype))


def _float_to_u64(x: numpy.ndarray) -> numpy.ndarray:
    with numpy.errstate(invalid="ignore"):
        signed = (x >= -2.0 ** 63) & (x < 2.0 ** 63)
        upper = (x >= 2.0 ** 63) & (x < 2.0 ** 64)
    low = numpy.where(signed, x, 0.0).astype(numpy.int64).astype(numpy.uint64)
    high = numpy.where(upper, x, 0.0).astype(numpy.uint64)
    return numpy.where(signed, low, numpy.where(upper, high, numpy.uint64(2 ** 63)))


def _cast_reference(x: numpy.ndarray, dtype) -> numpy.ndarray:
    target = to_numpy_dtype(dtype)
    if x.dtype.kind == "c" and target.kind not in "cb":   # NumPy keeps the real part (without its warning)
        x = x.real
    if is_float_dtype(x.dtype) and target.kind in "iu":
        return float_to_int(x, dtype)
    with numpy.errstate(over="ignore"):   # f64 -> f16/f32 overflow is inf, as in IEEE
        return x.astype(target)


register(OpDef("cast", _cast_infer, _cast_reference, "elementwise",
               scalar=lambda x, dtype: S.cast(x, dtype), attrs=("dtype",), grad=_cast_grad))


def _bitcast_infer(types, dtype):
    (t,) = types
    dtype = dtype_name(dtype)
    if to_numpy_dtype(t.dtype).itemsize != to_numpy_dtype(dtype).itemsize:
        raise ShapeError(f"bitcast reinterprets bits in place, so both dtypes need one width: {t.dtype} is "
                         f"{8 * to_numpy_dtype(t.dtype).itemsize} bits, {dtype} is {8 * to_numpy_dtype(dtype).itemsize}; "
                         "use astype to convert values instead")
    return TensorType(t.shape, dtype)


def _bitcast_reference(x: numpy.ndarray, dtype) -> numpy.ndarray:
    """The same bytes read as `dtype` (NumPy's view); a bool is one byte holding 0 or 1."""
    target = to_numpy_dtype(dtype)
    if x.dtype == numpy.bool_ or target == numpy.bool_:
        return x.astype(target)
    return (x if x.flags.c_contiguous else x.copy(order="C")).view(target)   # (ascontiguousarray makes 0-d 1-d)


register(OpDef("bitcast", _bitcast_infer, _bitcast_reference, "elementwise",
               scalar=lambda x, dtype: S.bitcast(x, dtype), attrs=("dtype",), differentiable=False))
