"""Inline, vectorizable float32 math for the LLVM backend.

LLVM's llvm.exp/expf stay scalar libm calls on this target, so each function here is IR
built from +,*,fma-able polynomials, selects and bit casts (Cephes-style range reduction),
marked alwaysinline so the loop vectorizer sees straight-line code. Measured maximum errors
against NumPy are in tests/codegen/test_llvm_math.py (the docstrings there list them).

Special values: exp(+-inf) = inf/0, log(0) = -inf, log(<0) = nan, nan in -> nan out for all;
denormal inputs/outputs are handled (exp scales by 2^n in two steps, log pre-scales).
sin/cos reduce the argument in double precision with a three-part pi/4 while |x| < 2^28 and
with the bits of 2/pi (Payne-Hanek, exact to 2^-70) beyond, so they are accurate over the whole
float range.
"""
from __future__ import annotations

import math

from .emit import Fn, lit

F = "float"


def c(v: float) -> str:
    return lit(v, "f32")


def _poly(fn: Fn, x: str, coeffs: list[float]) -> str:
    """Horner: coeffs[0] * x^(n-1) + ... + coeffs[-1], with fmuladd (fma where the CPU has it)."""
    r = c(coeffs[0])
    for k in coeffs[1:]:
        r = fn.op(f"call float @llvm.fmuladd.f32(float {r}, float {x}, float {c(k)})")
    return r


def _poly_in_square(fn: Fn, x: str, x2: str, coeffs: list[float]) -> str:
    """The polynomial _poly computes, evaluated as pairs (c_i * x + c_i+1) combined by Horner in x2 = x*x
    (Estrin): as many fmas, but a dependency chain about half as long. An odd count leads with the
    single highest coefficient."""
    lead = len(coeffs) % 2
    pairs = [fn.op(f"call float @llvm.fmuladd.f32(float {c(a)}, float {x}, float {c(b)})")
             for a, b in zip(coeffs[lead::2], coeffs[lead + 1::2])]
    r = c(coeffs[0]) if lead else pairs.pop(0)
    for pair in pairs:
        r = fn.op(f"call float @llvm.fmuladd.f32(float {r}, float {x2}, float {pair})")
    return r


def _sel(fn: Fn, cond: str, a: str, b: str, ty: str = F) -> str:
    return fn.op(f"select i1 {cond}, {ty} {a}, {ty} {b}")


# exp clamps x to [EXP_LO, EXP_HI], so n = round(x log2 e) lies in [-159, 144], and scales by 2^n as
# two factors that are never denormal or infinite: only the last product rounds, which makes
# overflow to inf (above 88.7228), denormal results and the exact 0 (below -103.972) come out
# correctly rounded without any select.
EXP_HI, EXP_LO = 100.0, -110.0
# t = x log2(e) + EXP_ROUNDER rounds to an integer (the float spacing is 1 in [2^23, 2^24)) and
# bits(t) = bits(1.5 * 2^23) + EXP_BIAS + n. The bias is the exponent bias of both factors (2 * 127).
EXP_BIAS = 254
EXP_ROUNDER = 1.5 * 2 ** 23 + EXP_BIAS


# exp(r) = 1 + r + r^2 P(r) on |r| <= ln(2)/2: P of degree 4, minimax for the relative error of the
# whole (Remez exchange in 40-digit arithmetic): 4.3e-9 = 0.07 ulp of 1 before float32 rounding; with
# the roundings, exp is within 1.06 ulp for every float32 input (tests/codegen/test_llvm_math.py). One
# multiply-add fewer than the degree-7 polynomial (<= 0.99 ulp on the test inputs). Highest coefficient first.
EXP_POLY = [1.3893402857621607e-3, 8.370262673405978e-3, 4.166709015838434e-2, 1.6666506067331865e-1,
            4.999999813118675e-1]


def _exp_reduced(fn: Fn, x: str, sign: int, lo: float, hi: float, rounder: float) -> tuple[str, str]:
    """(t, q) for exp(sign * x) = (1 + q) 2^n, x clamped to [lo, hi]: n = round(sign * x log2 e) sits in the
    low bits of t = sign * x log2 e + rounder, q = exp(r) - 1 for the Cody-Waite remainder r. With sign -1
    every step negates exactly (fma), so q is bit for bit exp's q at -x."""
    # Clamp so that NaN passes through: x86 min/max return their second operand when either is NaN,
    # and `x > HI ? HI : x` lowers to exactly that (llvm.minnum would add NaN fix-up code).
    above = fn.op(f"fcmp ogt float {x}, {c(hi)}")
    xc = _sel(fn, above, c(hi), x)
    below = fn.op(f"fcmp olt float {xc}, {c(lo)}")
    xc = _sel(fn, below, c(lo), xc)
    t = fn.op(f"call float @llvm.fmuladd.f32(float {xc}, float {c(sign * 1.4426950408889634)}, float {c(rounder)})")
    n = fn.op(f"fsub float {t}, {c(rounder)}")
    r = fn.op(f"call float @llvm.fmuladd.f32(float {n}, float {c(-sign * 0.693359375)}, float {xc})")
    r = fn.op(f"call float @llvm.fmuladd.f32(float {n}, float {c(sign * 2.12194440e-4)}, float {r})")
    z = fn.op(f"fmul float {r}, {r}")
    # with sign -1, r holds -r: P(r) = P(-(-r)) flips the coefficients of odd powers (highest power first)
    p = _poly_in_square(fn, r, z, [sign * k if (len(EXP_POLY) - 1 - i) % 2 else k for i, k in enumerate(EXP_POLY)])
    if sign < 0:
        r = fn.op(f"fneg float {r}")
    return t, fn.op(f"call float @llvm.fmuladd.f32(float {p}, float {z}, float {r})")


def _exp_body(fn: Fn, x: str) -> str:
    t, q = _exp_reduced(fn, x, 1, EXP_LO, EXP_HI, EXP_ROUNDER)
    # k = 254 + n lies in [95, 398]; shifting bits(t) left by 23 drops everything above k's 9 bits
    # (bits(1.5 * 2^23) and its half end in 9 zero bits), leaving floor(k/2) and ceil(k/2) as
    # biased exponents in [47, 199]: 2^n = 2^(floor(k/2) - 127) * 2^(ceil(k/2) - 127).
    tb = fn.op(f"bitcast float {t} to i32")
    half = fn.op(f"lshr i32 {tb}, 1")
    e1 = fn.op(f"shl i32 {half}, 23")
    e2 = fn.op(f"shl i32 {tb}, 23")
    e2 = fn.op(f"sub i32 {e2}, {e1}")
    s1 = fn.op(f"bitcast i32 {e1} to float")
    s2 = fn.op(f"bitcast i32 {e2} to float")
    # (1 + q) * s1 as one fma: s1 is an exact power of two, so this rounds exactly like 1 + q did.
    # A NaN x makes q NaN (s1, s2 are then arbitrary), and NaN survives both products.
    y = fn.op(f"call float @llvm.fmuladd.f32(float {q}, float {s1}, float {s1})")
    return fn.op(f"fmul float {y}, {s2}")


# sigmoid(x) = 1 / (1 + exp(-x)) needs exp(-x) only where it moves 1 + exp(-x): not below the normal range
# (1 + e == 1 there) and not above FLT_MAX (the result is 0). So x is clamped to [SIGMOID_LO, SIGMOID_HI],
# where n = round(-x log2 e) lies in [-126, 128], and exp(-x) = (1 + q) 2^n scales by one factor 2^n built
# from the bits of t (n = 128 gives 2^n = inf, so the result is 0 where exp(-x) overflows or nearly does:
# x < -88.38, where the exact result is below 4.2e-39). Every other step is exp's with -x for x, the sign
# folded into the constants (fma negates exactly), so elsewhere 1 + exp(-x) is bit for bit what exp gives.
SIGMOID_LO, SIGMOID_HI = -89.0, 87.5
SIGMOID_ROUNDER = 1.5 * 2 ** 23 + 127


def _sigmoid_body(fn: Fn, x: str) -> str:
    t, q = _exp_reduced(fn, x, -1, SIGMOID_LO, SIGMOID_HI, SIGMOID_ROUNDER)    # exp(-x) = (1 + q) 2^n
    tb = fn.op(f"bitcast float {t} to i32")
    sb = fn.op(f"shl i32 {tb}, 23")
    scale = fn.op(f"bitcast i32 {sb} to float")
    # (1 + q) * 2^n rounds as exp's fma (q, s1, s1) does; as a product it is inf, never NaN, for n = 128
    e = fn.op(f"fadd float {q}, {c(1.0)}")
    e = fn.op(f"fmul float {e}, {scale}")
    d = fn.op(f"fadd float {e}, {c(1.0)}")
    return fn.op(f"fdiv float {c(1.0)}, {d}")


def _log_body(fn: Fn, x: str) -> str:
    tiny = fn.op(f"fcmp olt float {x}, {c(1.17549435e-38)}")
    scaled = fn.op(f"fmul float {x}, {c(8388608.0)}")
    xs = _sel(fn, tiny, scaled, x)
    adj = fn.op(f"select i1 {tiny}, i32 -23, i32 0")
    bits = fn.op(f"bitcast float {xs} to i32")
    e = fn.op(f"lshr i32 {bits}, 23")
    e = fn.op(f"and i32 {e}, 255")
    e = fn.op(f"add i32 {e}, -127")
    e = fn.op(f"add i32 {e}, {adj}")
    mb = fn.op(f"and i32 {bits}, 8388607")
    mb = fn.op(f"or i32 {mb}, 1065353216")
    m = fn.op(f"bitcast i32 {mb} to float")
    hi = fn.op(f"fcmp ogt float {m}, {c(1.41421356)}")
    half = fn.op(f"fmul float {m}, {c(0.5)}")
    m = _sel(fn, hi, half, m)
    inc = fn.op(f"zext i1 {hi} to i32")
    e = fn.op(f"add i32 {e}, {inc}")
    fe = fn.op(f"sitofp i32 {e} to float")
    f = fn.op(f"fsub float {m}, {c(1.0)}")
    z = fn.op(f"fmul float {f}, {f}")
    p = _poly(fn, f, [7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                      -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1])
    y = fn.op(f"fmul float {p}, {f}")
    y = fn.op(f"fmul float {y}, {z}")
    y = fn.op(f"call float @llvm.fmuladd.f32(float {fe}, float {c(-2.12194440e-4)}, float {y})")
    y = fn.op(f"call float @llvm.fmuladd.f32(float {z}, float {c(-0.5)}, float {y})")
    r = fn.op(f"fadd float {f}, {y}")
    r = fn.op(f"call float @llvm.fmuladd.f32(float {fe}, float {c(0.693359375)}, float {r})")
    zero = fn.op(f"fcmp oeq float {x}, {c(0.0)}")
    r = _sel(fn, zero, c(-math.inf), r)
    inf = fn.op(f"fcmp oeq float {x}, {c(math.inf)}")
    r = _sel(fn, inf, x, r)
    bad = fn.op(f"fcmp ult float {x}, {c(0.0)}")      # negative or nan
    return _sel(fn, bad, c(math.nan), r)


def _tanh_body(fn: Fn, x: str) -> str:
    z = fn.op(f"call float @llvm.fabs.f32(float {x})")
    z2 = fn.op(f"fmul float {z}, {c(2.0)}")
    t = fn.op(f"call float @hb_exp_f32(float {z2})")
    t = fn.op(f"fadd float {t}, {c(1.0)}")
    q = fn.op(f"fdiv float {c(2.0)}, {t}")
    big = fn.op(f"fsub float {c(1.0)}, {q}")
    big = fn.op(f"call float @llvm.copysign.f32(float {big}, float {x})")
    s = fn.op(f"fmul float {x}, {x}")
    p = _poly(fn, s, [-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                      -3.33332819422E-1])
    p = fn.op(f"fmul float {p}, {s}")
    small = fn.op(f"call float @llvm.fmuladd.f32(float {p}, float {x}, float {x})")
    use_big = fn.op(f"fcmp ogt float {z}, {c(0.625)}")
    return _sel(fn, use_big, big, small)


_ERF_TAYLOR = [2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(9)]


def _erf_body(fn: Fn, x: str) -> str:
    z = fn.op(f"call float @llvm.fabs.f32(float {x})")
    s = fn.op(f"fmul float {x}, {x}")
    p = _poly(fn, s, list(reversed(_ERF_TAYLOR)))
    small = fn.op(f"fmul float {p}, {x}")
    # Abramowitz-Stegun 7.1.26 for |x| >= 0.75 (absolute error <= 1.5e-7 there).
    d = fn.op(f"call float @llvm.fmuladd.f32(float {z}, float {c(0.3275911)}, float {c(1.0)})")
    t = fn.op(f"fdiv float {c(1.0)}, {d}")
    q = _poly(fn, t, [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592])
    q = fn.op(f"fmul float {q}, {t}")
    ns = fn.op(f"fneg float {s}")
    e = fn.op(f"call float @hb_exp_f32(float {ns})")
    qe = fn.op(f"fmul float {q}, {e}")
    big = fn.op(f"fsub float {c(1.0)}, {qe}")
    big = fn.op(f"call float @llvm.copysign.f32(float {big}, float {x})")
    use_small = fn.op(f"fcmp olt float {z}, {c(0.75)}")
    return _sel(fn, use_small, small, big)


def _two_over_pi_bits(bits: int) -> int:
    """floor(2/pi * 2^bits), from Machin's formula in integer arithmetic (guard bits included)."""
    one = 1 << (bits + 64)

    def arctan_inv(n: int) -> int:          # arctan(1/n) * one
        total = term = one // n
        k, sign = 3, -1
        while term:
            term //= n * n
            total += sign * (term // k)
            k, sign = k + 2, -sign
        return total
    pi = 16 * arctan_inv(5) - 4 * arctan_inv(239)
    return ((2 * one) << bits) // pi


# Payne-Hanek reduction of a float |x| = M * 2^S (M the 24-bit significand, S = biased exponent - 150):
# |x| * 2/pi mod 4 needs only the bits of 2/pi from 2^-(S-1) on (the earlier ones give multiples of 4).
# PH_WINDOWS[S] holds the next 96 of them as three 32-bit words, so M * window is |x| * 2/pi mod 4 in
# fixed point with 94 fractional bits, good to 2^-70. Used where |x| >= PH_MIN.
PH_MIN = 2.0 ** 28
PH_S_MAX = 104                      # FLT_MAX: biased exponent 254
_PH_BITS = _two_over_pi_bits(PH_S_MAX + 200)
PH_WINDOWS = [(_PH_BITS >> (PH_S_MAX + 200 - s - 94)) & ((1 << 96) - 1) for s in range(PH_S_MAX + 1)]


def _ph_table() -> str:
    words = [(w >> shift) & 0xFFFFFFFF for w in PH_WINDOWS for shift in (64, 32, 0)]
    body = ", ".join(f"i32 {w - (1 << 32) if w >= 1 << 31 else w}" for w in words)
    return f"@hb_two_over_pi = internal constant [{len(words)} x i32] [{body}]\n"


def _payne_hanek(fn: Fn, z: str) -> tuple[str, str]:
    """(j, r) for |x| = z >= PH_MIN: j = 2 * round(z * 2/pi) mod 8 and r = z - round(...) * pi/2 in double."""
    bits = fn.op(f"bitcast float {z} to i32")
    e = fn.op(f"lshr i32 {bits}, 23")
    s = fn.op(f"sub i32 {e}, 150")
    low = fn.op(f"icmp slt i32 {s}, 0")                           # lanes below PH_MIN are discarded
    s = fn.op(f"select i1 {low}, i32 0, i32 {s}")
    high = fn.op(f"icmp sgt i32 {s}, {PH_S_MAX}")                   # inf, nan: the result is nan anyway
    s = fn.op(f"select i1 {high}, i32 {PH_S_MAX}, i32 {s}")
    m = fn.op(f"and i32 {bits}, 8388607")
    m = fn.op(f"or i32 {m}, 8388608")
    m = fn.op(f"zext i32 {m} to i64")
    base = fn.op(f"mul i32 {s}, 3")
    words = []
    for k in range(3):
        idx = fn.op(f"add i32 {base}, {k}")
        idx = fn.op(f"zext i32 {idx} to i64")
        ptr = fn.op(f"getelementptr inbounds [{3 * (PH_S_MAX + 1)} x i32], ptr @hb_two_over_pi, i64 0, i64 {idx}")
        w = fn.op(f"load i32, ptr {ptr}")
        words.append(fn.op(f"zext i32 {w} to i64"))
    p0, p1, p2 = (fn.op(f"mul i64 {m}, {w}") for w in words)
    # bits 32..95 of p0 * 2^64 + p1 * 2^32 + p2: z * 2/pi mod 4 with 62 fractional bits
    hi = fn.op(f"shl i64 {p0}, 32")
    hi = fn.op(f"add i64 {hi}, {p1}")
    hi = fn.op(f"add i64 {hi}, {fn.op(f'lshr i64 {p2}, 32')}")
    rounded = fn.op(f"add i64 {hi}, {1 << 61}")
    n = fn.op(f"lshr i64 {rounded}, 62")                            # round(z * 2/pi) mod 4
    frac = fn.op(f"sub i64 {hi}, {fn.op(f'shl i64 {n}, 62')}")      # in [-2^61, 2^61): the remainder
    fd = fn.op(f"sitofp i64 {frac} to double")
    r = fn.op(f"fmul double {fd}, {lit(math.pi / 2 * 2.0 ** -62, 'f64')}")
    return fn.op(f"shl i64 {n}, 1"), r


def _sincos_body(fn: Fn, x: str, want_cos: bool) -> str:
    z = fn.op(f"call float @llvm.fabs.f32(float {x})")
    zc = fn.op(f"call float @llvm.minnum.f32(float {z}, float {c(PH_MIN)})")
    zd = fn.op(f"fpext float {zc} to double")
    j = fn.op(f"fmul double {zd}, {lit(4 / math.pi, 'f64')}")
    j = fn.op(f"fptosi double {j} to i64")
    j = fn.op(f"add i64 {j}, 1")
    j = fn.op(f"and i64 {j}, -2")
    y = fn.op(f"sitofp i64 {j} to double")
    r = zd
    for part in (7.85398125648498535156E-1, 3.77489470793079817668E-8, 2.69515142907905952645E-15):
        r = fn.op(f"call double @llvm.fmuladd.f64(double {y}, double {lit(-part, 'f64')}, double {r})")
    # |x| >= 2^28: the three-part pi/4 runs out of bits; reduce with 2/pi's bits instead (Payne-Hanek)
    big = fn.op(f"fcmp oge float {z}, {c(PH_MIN)}")
    j_big, r_big = _payne_hanek(fn, z)
    j = fn.op(f"select i1 {big}, i64 {j_big}, i64 {j}")
    r = fn.op(f"select i1 {big}, double {r_big}, double {r}")
    r = fn.op(f"fptrunc double {r} to float")
    zz = fn.op(f"fmul float {r}, {r}")
    ps = _poly(fn, zz, [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1])
    ps = fn.op(f"fmul float {ps}, {zz}")
    sin = fn.op(f"call float @llvm.fmuladd.f32(float {ps}, float {r}, float {r})")
    pc = _poly(fn, zz, [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002])
    pc = fn.op(f"fmul float {pc}, {zz}")
    pc = fn.op(f"fmul float {pc}, {zz}")
    hz = fn.op(f"fmul float {zz}, {c(-0.5)}")
    cos = fn.op(f"fadd float {pc}, {hz}")
    cos = fn.op(f"fadd float {cos}, {c(1.0)}")
    q = fn.op(f"lshr i64 {j}, 1")
    if want_cos:
        q = fn.op(f"add i64 {q}, 1")     # cos(x) = sin(|x| + pi/2)
    q = fn.op(f"and i64 {q}, 3")
    odd = fn.op(f"trunc i64 {q} to i1")
    v = _sel(fn, odd, cos, sin)
    negq = fn.op(f"icmp uge i64 {q}, 2")
    nv = fn.op(f"fneg float {v}")
    v = _sel(fn, negq, nv, v)
    if not want_cos:   # sin is odd: flip the sign bit of the result when x is negative
        sx = fn.op(f"bitcast float {x} to i32")
        sx = fn.op(f"and i32 {sx}, -2147483648")
        vb = fn.op(f"bitcast float {v} to i32")
        vb = fn.op(f"xor i32 {vb}, {sx}")
        v = fn.op(f"bitcast i32 {vb} to float")
    bad = fn.op(f"fcmp ueq float {z}, {c(math.inf)}")    # inf or nan
    return _sel(fn, bad, c(math.nan), v)


def _sin_body(fn: Fn, x: str) -> str:
    return _sincos_body(fn, x, False)


def _cos_body(fn: Fn, x: str) -> str:
    return _sincos_body(fn, x, True)


def _pow_body(fn: Fn, a: str, b: str) -> str:
    ax = fn.op(f"call float @llvm.fabs.f32(float {a})")
    lg = fn.op(f"call float @hb_log_f32(float {ax})")
    prod = fn.op(f"fmul float {b}, {lg}")
    y = fn.op(f"call float @hb_exp_f32(float {prod})")
    fl = fn.op(f"call float @llvm.floor.f32(float {b})")
    isint = fn.op(f"fcmp oeq float {fl}, {b}")
    half = fn.op(f"fmul float {b}, {c(0.5)}")
    hf = fn.op(f"call float @llvm.floor.f32(float {half})")
    even = fn.op(f"fcmp oeq float {hf}, {half}")
    odd = fn.op(f"xor i1 {even}, true")
    odd = fn.op(f"and i1 {odd}, {isint}")
    neg = fn.op(f"fcmp olt float {a}, {c(0.0)}")
    ny = fn.op(f"fneg float {y}")
    signed = _sel(fn, odd, ny, y)
    # a negative base with a non-integer exponent is nan, except -inf: (-inf) ** 2.5 == inf (IEEE 754 pow)
    minf = fn.op(f"fcmp oeq float {a}, {c(-math.inf)}")
    negres = _sel(fn, isint, signed, _sel(fn, minf, y, c(math.nan)))
    r = _sel(fn, neg, negres, y)
    # a == -0 with odd b keeps the sign (NumPy: (-0.)**3 == -0., (-0.)**-1 == -inf)
    zero = fn.op(f"fcmp oeq float {a}, {c(0.0)}")
    negzero = fn.op(f"call float @llvm.copysign.f32(float {y}, float {a})")
    zodd = fn.op(f"and i1 {zero}, {odd}")
    r = _sel(fn, zodd, negzero, r)
    one = fn.op(f"fcmp oeq float {a}, {c(1.0)}")
    b0 = fn.op(f"fcmp oeq float {b}, {c(0.0)}")
    unit = fn.op(f"or i1 {one}, {b0}")
    # (-1) ** +-inf == 1 in NumPy
    m1 = fn.op(f"fcmp oeq float {a}, {c(-1.0)}")
    binf = fn.op(f"call float @llvm.fabs.f32(float {b})")
    binf = fn.op(f"fcmp oeq float {binf}, {c(math.inf)}")
    m1inf = fn.op(f"and i1 {m1}, {binf}")
    unit = fn.op(f"or i1 {unit}, {m1inf}")
    return _sel(fn, unit, c(1.0), r)


# expm1 on |x| <= 1: x + x^2 * (1/2! + x/3! + ... + x^10/12!); the first omitted term is below 2^-28 of the result
_EXPM1_TAYLOR = [1 / math.factorial(n) for n in range(12, 1, -1)]


def _expm1_body(fn: Fn, x: str) -> str:
    """exp(x) - 1 without the cancellation near 0: a series on [-1, 1], exp(x) - 1 outside (where
    exp(x) - 1 loses at most a factor e/(e - 1) of exp's error)."""
    x2 = fn.op(f"fmul float {x}, {x}")
    p = _poly(fn, x, _EXPM1_TAYLOR)
    small = fn.op(f"call float @llvm.fmuladd.f32(float {x2}, float {p}, float {x})")
    e = fn.op(f"call float @hb_exp_f32(float {x})")
    big = fn.op(f"fsub float {e}, {c(1.0)}")
    ax = fn.op(f"call float @llvm.fabs.f32(float {x})")
    use_small = fn.op(f"fcmp ole float {ax}, {c(1.0)}")
    r = _sel(fn, use_small, small, big)
    zero = fn.op(f"fcmp oeq float {x}, {c(0.0)}")       # x + x^2 p is +0 for x = -0
    return _sel(fn, zero, x, r)


def _log1p_body(fn: Fn, x: str) -> str:
    """log(1 + x) as log(u) * x / (u - 1) with u = 1 + x rounded: the quotient corrects u's
    rounding error (Goldberg), so tiny x give x. u == 1 gives x; x == inf gives inf."""
    u = fn.op(f"fadd float {x}, {c(1.0)}")
    lu = fn.op(f"call float @hb_log_f32(float {u})")
    um1 = fn.op(f"fsub float {u}, {c(1.0)}")
    ratio = fn.op(f"fdiv float {x}, {um1}")
    r = fn.op(f"fmul float {lu}, {ratio}")
    one = fn.op(f"fcmp oeq float {u}, {c(1.0)}")
    r = _sel(fn, one, x, r)
    inf = fn.op(f"fcmp oeq float {x}, {c(math.inf)}")
    return _sel(fn, inf, x, r)


UNARY = {"sigmoid": _sigmoid_body, "expm1": _expm1_body, "log1p": _log1p_body, "exp": _exp_body, "log": _log_body, "tanh": _tanh_body, "erf": _erf_body, "sin": _sin_body,
         "cos": _cos_body}
DEPENDS = {"tanh": ["exp"], "erf": ["exp"], "pow": ["log", "exp"], "expm1": ["exp"], "log1p": ["log"]}

INTRINSICS = """declare float @llvm.fmuladd.f32(float, float, float)
declare double @llvm.fmuladd.f64(double, double, double)
declare float @llvm.floor.f32(float)
declare float @llvm.fabs.f32(float)
declare float @llvm.copysign.f32(float, float)
declare float @llvm.minnum.f32(float, float)
"""


def math_function(name: str) -> str:
    """IR text of hb_<name>_f32 (and nothing it depends on)."""
    if name == "pow":
        fn = Fn("define internal float @hb_pow_f32(float %a, float %b) alwaysinline nounwind")
        fn.do(f"ret float {_pow_body(fn, '%a', '%b')}")
        return fn.text()
    fn = Fn(f"define internal float @hb_{name}_f32(float %x) alwaysinline nounwind")
    fn.do(f"ret float {UNARY[name](fn, '%x')}")
    return fn.text()


def math_module(names: set[str]) -> str:
    """The definitions of the named functions plus their dependencies."""
    want: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n not in want:
            want.add(n)
            stack.extend(DEPENDS.get(n, []))
    table = _ph_table() if want & {"sin", "cos"} else ""
    return table + "".join(math_function(n) for n in sorted(want))
