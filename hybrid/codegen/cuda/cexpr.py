"""CUDA C for dtypes and for the scalar expressions of hybrid.ir.scalar (SCALAR_OPS).

f16 and bf16 values are stored as __half and __nv_bfloat16 and computed in float registers,
rounded to their dtype after every operation that can leave it (so a fused chain rounds where
NumPy and ml_dtypes do) and at explicit casts. Math uses CUDA's accurate single-precision functions (expf, tanhf, erff, ...,
all within 2 ulp): the kernels are memory-bound, so the fast intrinsics (__expf: error grows
with |x|; __fdividef) would buy nothing measurable and break the tests' 1e-5 tolerance.
"""
from __future__ import annotations

import math

import numpy

from ...errors import HybridError
from ...ir.scalar import SCALAR_OPS
from ...ir.types import DTYPES

# storage type in memory
CTYPE = {"f16": "__half", "bf16": "__nv_bfloat16", "f32": "float", "f64": "double", "i8": "signed char", "i16": "short", "i32": "int",
         "i64": "long long", "u8": "unsigned char", "u16": "unsigned short", "u32": "unsigned int",
         "u64": "unsigned long long", "bool": "bool"}
# register type computations use
RTYPE = {**CTYPE, "f16": "float", "bf16": "float"}
# 16-bit floats: (memory -> float, float -> memory, float -> float rounded to the dtype)
NARROW = {"f16": ("__half2float", "__float2half", "hb_round_half"),
          "bf16": ("__bfloat162float", "__float2bfloat16", "hb_round_bf16")}
# ops whose result is one of their operands' values or an integer: no rounding to a 16-bit dtype
_EXACT = {"neg", "abs", "max", "min", "floor", "ceil", "round", "select", "cast", "bitcast"}
# cast -> bf16 by source dtype: rounded once, to nearest even, as ml_dtypes (helpers of the prelude)
_TO_BF16 = {"f64": "hb_round_bf16_d", "i64": "hb_round_bf16_ll", "u64": "hb_round_bf16_ull",
            "i32": "hb_round_bf16_d", "u32": "hb_round_bf16_d"}
# accumulator type of reductions (shuffles need 32/64-bit types)
ACCTYPE = {**RTYPE, "i8": "int", "u8": "unsigned int", "i16": "int", "u16": "unsigned int", "bool": "int"}


def is_float(dtype: str) -> bool:
    return dtype in ("f16", "bf16", "f32", "f64")


def load(ptr: str, index: str, dtype: str) -> str:
    return f"{NARROW[dtype][0]}({ptr}[{index}])" if dtype in NARROW else f"{ptr}[{index}]"


def store_value(value: str, dtype: str) -> str:
    """The expression written to memory for a register value of `dtype`."""
    return f"{NARROW[dtype][1]}({value})" if dtype in NARROW else value


def rounded(value: str, dtype: str) -> str:
    """A float register value rounded to `dtype` when that is a 16-bit float."""
    return f"{NARROW[dtype][2]}({value})" if dtype in NARROW else value


def literal(value, dtype: str) -> str:
    if dtype == "bool":
        return "true" if value else "false"
    if is_float(dtype):
        v = float(value)
        suffix = "" if dtype == "f64" else "f"
        if math.isnan(v):
            return "NAN" if suffix else "(double)NAN"
        if math.isinf(v):
            text = "INFINITY" if suffix else "(double)INFINITY"
            return text if v > 0 else f"(-{text})"
        if dtype in NARROW:   # a constant of the dtype is one of its values
            v = float(numpy.asarray(v).astype(DTYPES[dtype]).astype(numpy.float32))
        return f"{v!r}{suffix}"
    v = int(value)
    if dtype in ("u32", "u16", "u8"):
        return f"{v}u"
    if dtype == "u64":
        return f"{v}ULL"
    if dtype == "i64":
        return f"{v}LL"
    return f"({v})" if v < 0 else str(v)


_FLOAT_FN = {"exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "sqrt": "sqrt", "tanh": "tanh", "erf": "erf", "sin": "sin",
             "cos": "cos", "floor": "floor", "ceil": "ceil", "round": "rint", "abs": "fabs", "pow": "pow"}
# float -> int helpers of the prelude (hybrid.ir.ops.elementwise.float_to_int's rule)
_FLOAT_TO_INT = {"i8": "hb_ftoi32", "u8": "hb_ftoi32", "i16": "hb_ftoi32", "u16": "hb_ftoi32", "i32": "hb_ftoi32",
                 "i64": "hb_ftoi64", "u32": "hb_ftou32", "u64": "hb_ftou64"}
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
          "eq": "==", "ne": "!=", "and": "&&", "or": "||", "bitand": "&", "bitor": "|", "bitxor": "^"}
_HELPER = {"floordiv": "hb_floordiv", "lshift": "hb_shl", "rshift": "hb_shr"}
assert set(_FLOAT_FN) | set(_INFIX) | set(_HELPER) | {"neg", "max", "min", "mod", "rsqrt", "not", "bitnot", "select",
                                                      "cast", "bitcast"} \
    == set(SCALAR_OPS), "cexpr must render exactly hybrid.ir.scalar.SCALAR_OPS"


def scalar_op(op: str, args: list[str], arg_dtype: str, dtype: str, value=None, index_ctype: str = "long long") -> str:
    """C for one SCALAR_OPS op on rendered operands. arg_dtype: dtype of the (non-condition)
    operands; dtype: the result's; value: a cast's target dtype. Index arithmetic (dtype
    "i64" of kernel.INDEX) renders `mod` as C's % (its operands are non-negative). A 16-bit
    float result is rounded to its dtype, as NumPy rounds every operation."""
    text = _scalar_op(op, args, arg_dtype, dtype, value, index_ctype)
    return text if op in _EXACT else rounded(text, dtype)


def _scalar_op(op: str, args: list[str], arg_dtype: str, dtype: str, value, index_ctype: str) -> str:
    ctype = RTYPE.get(arg_dtype, index_ctype)
    floating = is_float(arg_dtype)
    suffix = "f" if arg_dtype in ("f16", "bf16", "f32") else ""
    if op in _INFIX:
        if op.startswith("bit"):   # C promotes narrow operands to int: cast back to the operands' type
            return f"(({ctype})({args[0]} {_INFIX[op]} {args[1]}))"
        return f"({args[0]} {_INFIX[op]} {args[1]})"
    if op in _HELPER:
        return f"{_HELPER[op]}<{ctype}>({args[0]}, {args[1]})"
    if op == "bitnot":
        return f"(!{args[0]})" if arg_dtype == "bool" else f"(({ctype})~{args[0]})"
    if op == "select":
        return f"({args[0]} ? {args[1]} : {args[2]})"
    if op == "bitcast":
        return _bitcast(args[0], arg_dtype, dtype)
    if op == "cast":
        if value == "bool":
            return f"({args[0]} != 0)"
        if value == "f16":
            return f"hb_round_half_d({args[0]})" if arg_dtype == "f64" else f"hb_round_half((float)({args[0]}))"
        if value == "bf16":
            if arg_dtype in _TO_BF16:
                return f"{_TO_BF16[arg_dtype]}({args[0]})"
            return f"hb_round_bf16((float)({args[0]}))"
        if floating and value in _FLOAT_TO_INT:   # C leaves out-of-range casts undefined
            return f"(({RTYPE[value]}){_FLOAT_TO_INT[value]}({args[0]}))"
        return f"(({RTYPE[value]})({args[0]}))"
    if op == "neg":
        return f"(-{args[0]})"
    if op == "not":
        return f"(!{args[0]})"
    if op in ("max", "min"):
        return f"hb_{op}<{ctype}>({args[0]}, {args[1]})"
    if op == "mod":
        if not floating:
            return f"({args[0]} % {args[1]})" if arg_dtype not in RTYPE else f"hb_imod<{ctype}>({args[0]}, {args[1]})"
        return f"hb_fmod<{ctype}>({args[0]}, {args[1]})"
    if not floating:
        if op == "abs":
            return f"({args[0]} < 0 ? -{args[0]} : {args[0]})"
        if op == "pow":
            return f"hb_ipow<{ctype}>({args[0]}, {args[1]})"
        if op in ("floor", "ceil", "round"):
            return args[0]
        raise HybridError(f"cuda: scalar op {op} needs a floating-point operand, got {arg_dtype}")
    if op == "rsqrt":
        return f"rsqrtf({args[0]})" if suffix else f"(1.0 / sqrt({args[0]}))"
    return f"{_FLOAT_FN[op]}{suffix}({', '.join(args)})"


def _bitcast(v: str, src: str, dst: str) -> str:
    """The same bits as another dtype of their width (f16 and bf16 live in float registers, so
    they are converted to their 16-bit storage first); bool is one byte holding 0 or 1."""
    if src == "bool":
        return f"(({RTYPE[dst]}){v})"
    if dst == "bool":
        return f"({v} != 0)"
    v = store_value(v, src) if src in NARROW else f"({CTYPE[src]})({v})"
    bits = f"hb_bitcast<{CTYPE[dst]}>({v})"
    return f"{NARROW[dst][0]}({bits})" if dst in NARROW else bits
