"""`hb.np.random`: samplers over the counter-based generator of hybrid.core.rng, shared by
eager and compiled code, so a model draws the same numbers (e.g. dropout masks) eagerly and
hybridized, given the same seed.
"""
from __future__ import annotations

import math

from ..core.promote import float_default
from ..core.rng import get_state, next_key, seed, set_state  # noqa: F401  (hb.np.random.seed, ...)
from ..ir.types import dtype_name, to_numpy_dtype
from .random_dists import _out_shape, _shape


def _uniform01(shape, dtype):
    from ..core.dispatch import bind
    return bind("random_uniform", next_key(), shape=_shape(shape), dtype=dtype_name(dtype))


def _placed(result, device, out):
    """MXNet's device=/ctx= and out= of the samplers: draws are made where arrays live by default
    (host memory) and moved to another device only when one is asked for."""
    if device is not None and device != "cpu" and device != result.context:
        result = result.as_in_context(device)
    if out is None:
        return result
    out[...] = result
    return out


def uniform(low=0.0, high=1.0, size=None, dtype=None, device=None, out=None, ctx=None):
    """Samples from [low, high) (float32 unless dtype says otherwise); without `size`, one for each element
    of low and high broadcast together (NumPy's and MXNet's rule)."""
    u = _uniform01(_out_shape(size, low, high), dtype or float_default())
    return _placed(u * (high - low) + low, device or ctx, out)


def rand(*shape):
    return uniform(size=shape)


def normal(loc=0.0, scale=1.0, size=None, dtype=None, device=None, out=None, ctx=None):
    """Gaussian samples (Box-Muller on two uniform draws); without `size`, one for each element of loc and
    scale broadcast together."""
    from . import np
    dtype, size = dtype or float_default(), _out_shape(size, loc, scale)
    u1 = _uniform01(size, dtype)
    u2 = _uniform01(size, dtype)
    radius = np.sqrt(np.log(1.0 - u1) * -2.0)
    return _placed(radius * np.cos(u2 * (2 * math.pi)) * scale + loc, device or ctx, out)


def randn(*shape):
    return normal(size=shape)


def randint(low, high=None, size=None, dtype=None, device=None, out=None, ctx=None):
    """Integers in [low, high)."""
    from . import np
    if high is None:
        low, high = 0, low
    draws = np.floor(_uniform01(size, "float64") * float(high - low)) + float(low)
    return _placed(np.astype(draws, to_numpy_dtype(dtype_name(dtype or "int32"))), device or ctx, out)


# -- the rest of NumPy's random API (random_dists.py, random_generator.py) -----------------------
from .random_generator import (GLOBAL as _GLOBAL, BitGenerator, Generator, MT19937, PCG64,  # noqa: E402,F401
                               PCG64DXSM, Philox, RandomState, SFC64, SeedSequence, default_rng)

for _name in ("random", "standard_normal", "standard_exponential", "exponential", "logistic", "gumbel", "laplace",
              "lognormal", "rayleigh", "weibull", "pareto", "power", "standard_cauchy", "triangular", "geometric",
              "choice", "permutation", "shuffle", "multivariate_normal", "bytes", "gamma", "standard_gamma", "beta",
              "binomial", "poisson", "multinomial", "dirichlet", "chisquare", "standard_t", "f", "negative_binomial",
              "hypergeometric", "vonmises", "wald", "zipf", "logseries", "noncentral_chisquare", "noncentral_f"):
    globals()[_name] = getattr(_GLOBAL, _name)
random_sample = ranf = sample = random


def random_integers(low, high=None, size=None):
    """Integers in [low, high] (NumPy's deprecated inclusive form)."""
    if high is None:
        low, high = 1, low
    return _GLOBAL.integers(low, high, size, endpoint=True)


def get_bit_generator():
    """The global generator's bit source: hybrid's counter-based Threefry state, as a Generator view."""
    return Generator(get_state()["seed"])


def set_bit_generator(bitgen) -> None:
    """Reseed the global generator from a Generator or an integer seed."""
    seed(bitgen._seed if isinstance(bitgen, Generator) else int(bitgen))
