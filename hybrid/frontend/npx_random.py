"""`hb.npx.random`: MXNet's extension samplers (bernoulli, uniform_n, normal_n) and seed, built on the
counter-based generator of `hb.np.random`: they draw the same numbers eagerly and hybridized (a traced
`random_uniform` op keyed by the graph's `%rng.key`), and `seed` fixes them with every other draw."""
from __future__ import annotations

from typing import Union

import numpy

from ..core.array import Array, NDArray, _where
from ..core.dispatch import bind
from ..core.promote import promote
from ..errors import ShapeError
from ..ir.types import dtype_name
from . import np, random as _np_random
from .random_dists import _out_shape, _shape

Size = Union[int, tuple, list, None]


def seed(seed: int, device="all", ctx=None) -> None:  # noqa: ARG001 (MXNet's device argument)
    """Reseed the generator. hybrid has one generator for every device, eager and compiled, so `device`
    (MXNet's per-device choice, also `ctx`) is accepted and the one generator is seeded."""
    _np_random.seed(seed)


def _check_probabilities(prob: Array) -> None:
    """Eagerly, a probability outside [0, 1] (or NaN) is a ValueError, as in MXNet. Traced values are not
    known until run time: there a probability above 1 always draws 1 and one below 0 never does."""
    if not isinstance(prob, NDArray):
        return
    values = prob.asnumpy()
    bad = values[~((values >= 0) & (values <= 1))]
    if bad.size:
        raise ValueError(f"npx.random.bernoulli: prob must lie in [0, 1], got {bad.flat[0].item()!r} in prob "
                         f"{prob.type}; pass log-odds as logit= instead{_where()}")


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return numpy.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def bernoulli(prob=None, logit=None, size: Size = None, dtype=None, device=None, out=None, ctx=None) -> Array:
    """Draws 1 with probability `prob` (or sigmoid(`logit`): pass exactly one) and 0 otherwise, as `dtype`
    (float32 by default; ints and bool too). Without `size` (or with size=()) the shape is the parameter's;
    with it, the parameter broadcasts to `size`."""
    if (prob is None) == (logit is None):
        given = "both" if prob is not None else "neither"
        raise ValueError(f"npx.random.bernoulli: pass exactly one of prob= (a probability) and logit= (log-odds), "
                         f"got {given}{_where()}")
    if logit is not None:
        (logit,) = promote(logit, to_float=True)
        p = bind("sigmoid", logit)
    else:
        (p,) = promote(prob, to_float=True)
        _check_probabilities(p)
    shape = tuple(p.shape) if size is None or size == () else _shape(size)
    if not _broadcasts_to(tuple(p.shape), shape):
        raise ShapeError(f"npx.random.bernoulli: the parameter's shape {tuple(p.shape)} does not broadcast to "
                         f"size {shape}{_where()}")
    draws = _np_random._uniform01(shape, "float64" if p.dtype == numpy.float64 else "float32")
    samples = np.astype(draws < p, dtype_name(dtype or "float32"))
    return _np_random._placed(samples, device or ctx, out)


def _batch_shape(batch_shape: Size) -> tuple[int, ...]:
    return () if batch_shape is None else _shape(batch_shape)


def _as_dtype(samples: Array, dtype) -> Array:
    name = dtype_name(dtype or "float32")
    return samples if samples.type.dtype == name else np.astype(samples, name)


def uniform_n(low=0.0, high=1.0, batch_shape: Size = None, dtype=None, device=None, ctx=None) -> Array:
    """Samples from [low, high) of shape batch_shape + the broadcast shape of low and high (MXNet's
    sample_n form: batch_shape=(m, n) draws m * n samples for each parameter element); float32 by default."""
    shape = _batch_shape(batch_shape) + _out_shape(None, low, high)
    return _as_dtype(_np_random.uniform(low, high, shape, dtype or "float32", device or ctx), dtype)


def normal_n(loc=0.0, scale=1.0, batch_shape: Size = None, dtype=None, device=None, ctx=None) -> Array:
    """Gaussian samples of shape batch_shape + the broadcast shape of loc and scale; float32 by default."""
    shape = _batch_shape(batch_shape) + _out_shape(None, loc, scale)
    return _as_dtype(_np_random.normal(loc, scale, shape, dtype or "float32", device or ctx), dtype)


__all__ = ["seed", "bernoulli", "uniform_n", "normal_n"]
