"""Complex elementwise functions written with real registry ops, for passes/lower_complex.py.

A complex operand is its (re, im) parts, two real Values of one shape; each function returns the
parts of its result. The formulas are the textbook ones with NumPy's (C99's) principal branches:
  log z = log|z| + i atan2(y, x); sqrt by the half-angle form, stable for either sign of x;
  sin, cos, sinh, cosh by their real and imaginary parts; tanh by (sinh 2x + i sin 2y) /
  (cosh 2x + cos 2y), switching to its limit (+-1, 2 sin 2y e^(-2|x|)) once |x| > 20, where cosh
  overflows (float32) and tanh x rounds to +-1; tan z = -i tanh(iz); expm1 and log1p as NumPy's
  nc_expm1 / nc_log1p; the inverse functions from log and sqrt (arcsinh on the half plane x >= 0,
  by oddness elsewhere, so z + sqrt(z^2 + 1) never cancels); sign z = z / |z| (0 at 0); pow as
  exp(b log a) with NumPy's cases for a = 0.
Accuracy: a few ulps of each real op per step, so results agree with NumPy's to a relative 1e-5
(float32) / 1e-12 (float64) away from the branch cuts and overflow ranges.
"""
from __future__ import annotations

import math
from typing import Callable

from ..ir.graph import Value

Parts = tuple[Value, Value]


class ComplexMath:
    """Builds complex functions on parts with `emit(op, *values, **attrs)` and `const(x, dtype)`."""

    def __init__(self, emit: Callable[..., Value], const: Callable[[float, str], Value]):
        self.o = emit
        self._const = const

    def c(self, like: Value, value: float) -> Value:
        """A real scalar constant of `like`'s dtype (broadcast by the elementwise ops)."""
        return self._const(value, like.type.dtype)

    # -- arithmetic on parts ------------------------------------------------------------------
    def add(self, a: Parts, b: Parts) -> Parts:
        return self.o("add", a[0], b[0]), self.o("add", a[1], b[1])

    def sub(self, a: Parts, b: Parts) -> Parts:
        return self.o("sub", a[0], b[0]), self.o("sub", a[1], b[1])

    def mul(self, a: Parts, b: Parts) -> Parts:
        o = self.o
        return (o("sub", o("mul", a[0], b[0]), o("mul", a[1], b[1])),
                o("add", o("mul", a[0], b[1]), o("mul", a[1], b[0])))

    def scale(self, a: Parts, k: float) -> Parts:
        return self.o("mul", a[0], self.c(a[0], k)), self.o("mul", a[1], self.c(a[1], k))

    def real_plus(self, a: Parts, k: float) -> Parts:
        return self.o("add", a[0], self.c(a[0], k)), a[1]

    def neg(self, a: Parts) -> Parts:
        return self.o("neg", a[0]), self.o("neg", a[1])

    def i_times(self, a: Parts) -> Parts:
        """i z = (-y, x)."""
        return self.o("neg", a[1]), a[0]

    def minus_i_times(self, a: Parts) -> Parts:
        """-i z = (y, -x)."""
        return a[1], self.o("neg", a[0])

    def div(self, a: Parts, b: Parts) -> Parts:
        """Smith's algorithm: scale by the larger part of the divisor (no overflow in |b|^2)."""
        (ar, ai), (br, bi) = a, b
        o = self.o
        big_re = o("ge", o("abs", br), o("abs", bi))
        # where |br| >= |bi|: r = bi / br, d = br + bi r, (ar + ai r, ai - ar r) / d; else the roles swapped
        p, q = o("where", big_re, br, bi), o("where", big_re, bi, br)
        r = o("div", q, p)
        d = o("add", p, o("mul", q, r))
        x = o("where", big_re, ar, ai)          # the numerator parts in the chosen order
        y = o("where", big_re, ai, ar)
        re = o("div", o("add", x, o("mul", y, r)), d)
        im_big = o("sub", ai, o("mul", ar, r))
        im_small = o("sub", o("mul", ai, r), ar)
        return re, o("div", o("where", big_re, im_big, im_small), d)

    # -- elementary functions -----------------------------------------------------------------
    def exp(self, z: Parts) -> Parts:
        x, y = z
        scale = self.o("exp", x)
        return self.o("mul", scale, self.o("cos", y)), self.o("mul", scale, self.o("sin", y))

    def log(self, z: Parts) -> Parts:
        x, y = z
        return self.o("log", self.o("hypot", x, y)), self.o("arctan2", y, x)

    def log1p(self, z: Parts) -> Parts:
        return self.log(self.real_plus(z, 1.0))

    def expm1(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        half = o("sin", o("mul", y, self.c(y, 0.5)))
        re = o("sub", o("mul", o("expm1", x), o("cos", y)), o("mul", self.c(x, 2.0), o("mul", half, half)))
        return re, o("mul", o("exp", x), o("sin", y))

    def sqrt(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        t = o("sqrt", o("mul", o("add", o("abs", x), o("hypot", x, y)), self.c(x, 0.5)))
        zero = o("eq", t, self.c(t, 0.0))
        two_t = o("where", zero, self.c(t, 1.0), o("add", t, t))      # t = 0 only at z = 0
        other = o("div", o("abs", y), two_t)                           # the part y / 2t
        right = o("ge", x, self.c(x, 0.0))
        re = o("where", right, t, other)
        im = o("where", right, o("div", y, two_t), o("copysign", t, y))
        return o("where", zero, self.c(x, 0.0), re), o("where", zero, y, im)

    def sin(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        return o("mul", o("sin", x), o("cosh", y)), o("mul", o("cos", x), o("sinh", y))

    def cos(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        return o("mul", o("cos", x), o("cosh", y)), o("neg", o("mul", o("sin", x), o("sinh", y)))

    def sinh(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        return o("mul", o("sinh", x), o("cos", y)), o("mul", o("cosh", x), o("sin", y))

    def cosh(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        return o("mul", o("cosh", x), o("cos", y)), o("mul", o("sinh", x), o("sin", y))

    def tanh(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        big = o("gt", o("abs", x), self.c(x, 20.0))
        x2 = o("where", big, self.c(x, 0.0), o("add", x, x))      # no overflow in the branch not taken
        y2 = o("add", y, y)
        den = o("add", o("cosh", x2), o("cos", y2))
        far_re = o("copysign", self.c(x, 1.0), x)
        far_im = o("mul", o("mul", self.c(x, 2.0), o("sin", y2)), o("exp", o("mul", o("abs", x), self.c(x, -2.0))))
        return (o("where", big, far_re, o("div", o("sinh", x2), den)),
                o("where", big, far_im, o("div", o("sin", y2), den)))

    def tan(self, z: Parts) -> Parts:
        return self.minus_i_times(self.tanh(self.i_times(z)))

    def arcsinh(self, z: Parts) -> Parts:
        """log(w + sqrt(w^2 + 1)) for w = z reflected into x >= 0, reflected back (arcsinh is odd)."""
        o = self.o
        x, y = z
        flip = o("lt", x, self.c(x, 0.0))
        w = o("where", flip, o("neg", x), x), o("where", flip, o("neg", y), y)
        r = self.log(self.add(w, self.sqrt(self.real_plus(self.mul(w, w), 1.0))))
        return o("where", flip, o("neg", r[0]), r[0]), o("where", flip, o("neg", r[1]), r[1])

    def arcsin(self, z: Parts) -> Parts:
        return self.minus_i_times(self.arcsinh(self.i_times(z)))

    def arccos(self, z: Parts) -> Parts:
        s = self.arcsin(z)
        return self.o("sub", self.c(s[0], math.pi / 2), s[0]), self.o("neg", s[1])

    def arctanh(self, z: Parts) -> Parts:
        return self.scale(self.sub(self.log1p(z), self.log1p(self.neg(z))), 0.5)

    def arctan(self, z: Parts) -> Parts:
        return self.minus_i_times(self.arctanh(self.i_times(z)))

    def arccosh(self, z: Parts) -> Parts:
        root = self.mul(self.sqrt(self.real_plus(z, 1.0)), self.sqrt(self.real_plus(z, -1.0)))
        return self.log(self.add(z, root))

    def log2(self, z: Parts) -> Parts:
        return self.scale(self.log(z), 1.0 / math.log(2.0))

    def log10(self, z: Parts) -> Parts:
        return self.scale(self.log(z), 1.0 / math.log(10.0))

    def exp2(self, z: Parts) -> Parts:
        return self.exp(self.scale(z, math.log(2.0)))

    def sign(self, z: Parts) -> Parts:
        o = self.o
        x, y = z
        size = o("hypot", x, y)
        zero = o("eq", size, self.c(size, 0.0))
        safe = o("where", zero, self.c(size, 1.0), size)
        return o("div", x, safe), o("div", y, safe)      # 0 / 1 = 0 at z = 0

    def pow(self, a: Parts, b: Parts) -> Parts:
        """exp(b log a); at a = 0 NumPy's values: 1 for b = 0, 0 for real b > 0, else nan."""
        o = self.o
        r = self.exp(self.mul(b, self.log(a)))
        x, _ = a
        base_zero = o("logical_and", o("eq", a[0], self.c(x, 0.0)), o("eq", a[1], self.c(x, 0.0)))
        b_real = o("eq", b[1], self.c(x, 0.0))
        b_zero = o("logical_and", b_real, o("eq", b[0], self.c(x, 0.0)))
        b_pos = o("logical_and", b_real, o("gt", b[0], self.c(x, 0.0)))
        nan = self.c(x, math.nan)
        at_zero_re = o("where", b_zero, self.c(x, 1.0), o("where", b_pos, self.c(x, 0.0), nan))
        at_zero_im = o("where", o("logical_or", b_zero, b_pos), self.c(x, 0.0), nan)
        return o("where", base_zero, at_zero_re, r[0]), o("where", base_zero, at_zero_im, r[1])


UNARY = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos",
         "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "sign")
