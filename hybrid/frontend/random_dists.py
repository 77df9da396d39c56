"""NumPy's distributions for `hb.np.random` (the legacy functions) and `Generator`.

Distributions with a closed-form transform of uniform draws (uniform, normal, exponential,
logistic, gumbel, laplace, lognormal, rayleigh, weibull, pareto, power, cauchy, triangular,
geometric, integers, choice, permutation, multivariate_normal) are built on the counter-based
`random_uniform` primitive, so they trace, compile and draw the same numbers eagerly and
compiled. Rejection-sampled and discrete distributions (gamma, beta, binomial, poisson,
multinomial, dirichlet, ...) draw eagerly from NumPy's Philox generator keyed by the same
(seed, counter) state, so `seed()` makes them reproducible; in traced code they are a
TracingError naming the distribution.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy

from ..ir.types import dtype_name
from ..core.array import Array, NDArray, Tracer, _tracing_error, write_out
from ..core.promote import float_default


def _np():
    from . import np
    return np


class Source:
    """Where draws come from: `uniform01(shape, dtype)` (counter-based, traceable) and
    `numpy_generator()` (eager, for the rejection samplers). The module functions use the
    global state; each Generator has its own."""

    def __init__(self, key_fn, tracing_fn):
        self.key_fn, self.tracing_fn = key_fn, tracing_fn

    def uniform01(self, shape, dtype="float32"):
        from ..core.dispatch import bind
        return bind("random_uniform", self.key_fn(), shape=_shape(shape), dtype=dtype_name(dtype))

    def numpy_generator(self, what: str) -> numpy.random.Generator:
        if self.tracing_fn():
            raise _tracing_error(f"np.random.{what} was called", f"{what} samples by rejection or from a discrete "
                                 "law with no fixed-cost transform, so it is drawn eagerly only: draw it outside "
                                 "the hybridized code and pass it in as an argument.")
        key = numpy.asarray(self.key_fn()).astype(numpy.uint64)
        return numpy.random.Generator(numpy.random.Philox(key=[int(key[0]), int(key[1])]))


def _shape(size) -> tuple[int, ...]:
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, numpy.integer)) else tuple(int(d) for d in size)


def _fill_size(size, out):
    """Generator methods with out=: the array to fill gives the size when none is passed."""
    return tuple(out.shape) if size is None and out is not None else size


def _out_shape(size, *params) -> tuple[int, ...]:
    if size is not None:
        return _shape(size)
    shapes = [tuple(p.shape) if isinstance(p, (Array, numpy.ndarray)) else numpy.shape(p) for p in params]
    return tuple(numpy.broadcast_shapes(*shapes)) if shapes else ()


def _probabilities(pvals):
    """Multinomial probabilities in float64. Single-precision ones that sum to 1 in float32 can exceed 1
    by a rounding error once widened (NumPy then refuses them): those are rescaled to sum to 1."""
    p = numpy.asarray(pvals.asnumpy() if isinstance(pvals, Array) else pvals, dtype=numpy.float64)
    total = p.sum()
    if p.size and total > 1.0 and total - 1.0 <= 8 * p.size * numpy.finfo(numpy.float32).eps:
        p = p / total
    return p


def _eager(src: Source, name: str, size, dtype, *params, **kw):
    gen = src.numpy_generator(name)
    args = [numpy.asarray(p) if isinstance(p, Array) else p for p in params]
    if name == "multinomial":
        args[1] = _probabilities(params[1])
    out = getattr(gen, name)(*args, size=size, **kw)
    out = numpy.asarray(out)
    if dtype is not None:
        out = out.astype(dtype)
    elif out.dtype == numpy.float64 and float_default() == "f32":
        out = out.astype(numpy.float32)
    elif out.dtype.kind == "i":
        out = out.astype(numpy.int64)
    return NDArray(out)


class Distributions:
    """NumPy's sampling methods over a Source (mixed into the module namespace and Generator)."""

    def __init__(self, source: Source):
        self.src = source

    # -- closed forms (traceable) -----------------------------------------------------------
    def random(self, size=None, dtype="float32", out=None):
        return write_out(out, self.src.uniform01(_fill_size(size, out), dtype))

    def uniform(self, low=0.0, high=1.0, size=None, dtype="float32"):
        u = self.src.uniform01(_out_shape(size, low, high), dtype)
        return u * (_np().asarray(high) - low) + low if isinstance(high, (Array, numpy.ndarray)) or \
            isinstance(low, (Array, numpy.ndarray)) else u * (high - low) + low

    def standard_normal(self, size=None, dtype="float32", out=None):
        np = _np()
        size = _fill_size(size, out)
        u1, u2 = self.src.uniform01(size, dtype), self.src.uniform01(size, dtype)
        return write_out(out, np.sqrt(np.log(1.0 - u1) * -2.0) * np.cos(u2 * (2 * math.pi)))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype="float32"):
        return self.standard_normal(_out_shape(size, loc, scale), dtype) * scale + loc

    def standard_exponential(self, size=None, dtype="float32", method="inv", out=None):
        return write_out(out, -_np().log1p(-self.src.uniform01(_fill_size(size, out), dtype)))

    def exponential(self, scale=1.0, size=None, dtype="float32"):
        return self.standard_exponential(_out_shape(size, scale), dtype) * scale

    def logistic(self, loc=0.0, scale=1.0, size=None):
        np = _np()
        u = self.src.uniform01(_out_shape(size, loc, scale))
        return np.log(u / (1.0 - u)) * scale + loc

    def gumbel(self, loc=0.0, scale=1.0, size=None):
        np = _np()
        return -np.log(self.standard_exponential(_out_shape(size, loc, scale))) * scale + loc

    def laplace(self, loc=0.0, scale=1.0, size=None):
        np = _np()
        u = self.src.uniform01(_out_shape(size, loc, scale)) - 0.5
        return loc - scale * np.sign(u) * np.log1p(-2.0 * np.abs(u))

    def lognormal(self, mean=0.0, sigma=1.0, size=None):
        return _np().exp(self.normal(mean, sigma, size))

    def rayleigh(self, scale=1.0, size=None):
        return _np().sqrt(self.standard_exponential(_out_shape(size, scale)) * 2.0) * scale

    def weibull(self, a, size=None):
        return _np().power(self.standard_exponential(_out_shape(size, a)), 1.0 / _np().asarray(a, "float32"))

    def pareto(self, a, size=None):
        return _np().expm1(self.standard_exponential(_out_shape(size, a)) / a)

    def power(self, a, size=None):
        return _np().power(-_np().expm1(-self.standard_exponential(_out_shape(size, a))), 1.0 / a)

    def standard_cauchy(self, size=None):
        return _np().tan((self.src.uniform01(size) - 0.5) * math.pi)

    def triangular(self, left, mode, right, size=None):
        np = _np()
        u = self.src.uniform01(_out_shape(size, left, mode, right))
        cut = (mode - left) / (right - left)
        lo = left + np.sqrt(u * (right - left) * (mode - left))
        hi = right - np.sqrt((1.0 - u) * (right - left) * (right - mode))
        return np.where(u < cut, lo, hi)

    def geometric(self, p, size=None):
        np = _np()
        u = self.src.uniform01(_out_shape(size, p))
        return np.astype(np.ceil(np.log1p(-u) / np.log1p(-np.asarray(p, "float32"))), "int64")

    def integers(self, low, high=None, size=None, dtype="int64", endpoint: bool = False):
        np = _np()
        if high is None:
            low, high = 0, low
        span = float(high - low + (1 if endpoint else 0))
        draws = np.floor(self.src.uniform01(size, "float64") * span) + float(low)
        return np.astype(draws, dtype)

    def choice(self, a, size=None, replace: bool = True, p=None, axis: int = 0, shuffle: bool = True):
        np = _np()
        pool = np.arange(int(a), dtype="int64") if isinstance(a, (int, numpy.integer)) else np.asarray(a)
        n = pool.shape[axis]
        shape = _shape(size)
        if not replace:
            count = int(numpy.prod(shape)) if shape else 1
            if count > n:
                raise ValueError(f"choice: cannot take {count} samples without replacement from {n}")
            picks = np.reshape(self.permutation(n)[:count], shape)
        elif p is None:
            picks = self.integers(0, n, shape)
        else:
            cdf = np.cumsum(np.asarray(p, "float64"))
            picks = np.minimum(np.searchsorted(cdf / cdf[-1], self.src.uniform01(shape, "float64"), side="right"),
                               n - 1)
        return np.take(pool, picks, axis=axis)

    def permutation(self, x):
        np = _np()
        if isinstance(x, (int, numpy.integer)):
            return np.argsort(self.src.uniform01((int(x),)))
        x = np.asarray(x)
        return np.take(x, np.argsort(self.src.uniform01((x.shape[0],))), axis=0)

    def permuted(self, x, axis: Optional[int] = None, out=None):
        np = _np()
        x = np.asarray(x)
        if axis is None:
            return write_out(out, np.reshape(self.permutation(np.ravel(x)), x.shape))
        return write_out(out, np.take_along_axis(x, np.argsort(self.src.uniform01(x.shape), axis=axis), axis=axis))

    def shuffle(self, x, axis: int = 0) -> None:
        """Shuffle an eager array in place along `axis`."""
        if isinstance(x, Tracer):
            raise _tracing_error("np.random.shuffle wrote into a traced array", "Use np.random.permutation(x).")
        np = _np()
        order = np.argsort(self.src.uniform01((x.shape[axis],)))
        shuffled = np.take(x, order, axis=axis)
        x[...] = numpy.asarray(shuffled)

    def multivariate_normal(self, mean, cov, size=None, check_valid="warn", tol=1e-8, method="cholesky"):
        np = _np()
        mean, cov = np.asarray(mean, "float32"), np.asarray(cov, "float32")
        shape = _shape(size) + mean.shape
        z = self.standard_normal(shape)
        factor = np.linalg.cholesky(cov + np.eye(cov.shape[0]) * 1e-7)
        return mean + np.matmul(z, np.swapaxes(factor, -1, -2))

    def bytes(self, length: int) -> bytes:
        return self.src.numpy_generator("bytes").bytes(length)


def _eager_method(name: str, params: tuple[str, ...], dtype=None):
    """A Distributions method drawing eagerly from NumPy's Generator (see Source.numpy_generator)."""
    def method(self, *args, size=None, **kwargs):
        if len(args) > len(params):   # size given positionally, as NumPy allows
            args, size = args[:len(params)], args[len(params)]
        values = dict(zip(params, args))
        values.update({k: v for k, v in kwargs.items() if k in params})
        return _eager(self.src, name, size, dtype, *[values[p] for p in params if p in values])
    method.__name__ = name
    method.__doc__ = f"NumPy's {name}({', '.join(params)}), drawn eagerly (a TracingError when traced)."
    return method


for _name, _params, _dtype in [
        ("gamma", ("shape", "scale"), None), ("standard_gamma", ("shape",), None), ("beta", ("a", "b"), None),
        ("binomial", ("n", "p"), None), ("poisson", ("lam",), None), ("multinomial", ("n", "pvals"), None),
        ("dirichlet", ("alpha",), None), ("chisquare", ("df",), None), ("standard_t", ("df",), None),
        ("f", ("dfnum", "dfden"), None), ("negative_binomial", ("n", "p"), None),
        ("hypergeometric", ("ngood", "nbad", "nsample"), None), ("vonmises", ("mu", "kappa"), None),
        ("wald", ("mean", "scale"), None), ("zipf", ("a",), None), ("logseries", ("p",), None),
        ("noncentral_chisquare", ("df", "nonc"), None), ("noncentral_f", ("dfnum", "dfden", "nonc"), None),
        ("multivariate_hypergeometric", ("colors", "nsample"), None)]:
    setattr(Distributions, _name, _eager_method(_name, _params, _dtype))
