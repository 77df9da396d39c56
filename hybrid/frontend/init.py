"""Initializers (Gluon names). They draw from hb.np.random, so np.random.seed makes them repeatable."""
from __future__ import annotations

import math

import numpy


class Initializer:
    def __call__(self, shape: tuple[int, ...], dtype) -> numpy.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _draw_uniform(shape, low, high):
    from . import random
    return numpy.asarray(random.uniform(low, high, size=shape, dtype="float64"))


def _draw_normal(shape, sigma):
    from . import random
    return numpy.asarray(random.normal(0.0, sigma, size=shape, dtype="float64"))


class Zero(Initializer):
    def __call__(self, shape, dtype):
        return numpy.zeros(shape, dtype)


class One(Initializer):
    def __call__(self, shape, dtype):
        return numpy.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value: float):
        self.value = value

    def __call__(self, shape, dtype):
        return numpy.full(shape, self.value, dtype)


class Uniform(Initializer):
    """Uniform on [-scale, scale] (Gluon's default initializer, scale 0.07)."""

    def __init__(self, scale: float = 0.07):
        self.scale = scale

    def __call__(self, shape, dtype):
        return _draw_uniform(shape, -self.scale, self.scale).astype(dtype)


class Normal(Initializer):
    def __init__(self, sigma: float = 0.01):
        self.sigma = sigma

    def __call__(self, shape, dtype):
        return _draw_normal(shape, self.sigma).astype(dtype)


class Xavier(Initializer):
    """Glorot: scale sqrt(magnitude / fan), fan by `factor_type` ('avg', 'in', 'out')."""

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3.0):
        self.rnd_type, self.factor_type, self.magnitude = rnd_type, factor_type, magnitude

    def __call__(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"Xavier needs a weight of at least 2 dimensions, got shape {shape}")
        receptive = int(numpy.prod(shape[2:])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
        fan = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = math.sqrt(self.magnitude / fan)
        if self.rnd_type == "uniform":
            return _draw_uniform(shape, -scale, scale).astype(dtype)
        return _draw_normal(shape, scale).astype(dtype)


def create(init) -> Initializer:
    """An Initializer from an instance or a name ('zeros', 'ones', 'xavier', 'normal', 'uniform')."""
    if isinstance(init, Initializer):
        return init
    names = {"zeros": Zero, "zero": Zero, "ones": One, "one": One, "xavier": Xavier, "normal": Normal,
             "uniform": Uniform}
    try:
        return names[str(init).lower()]()
    except KeyError:
        raise ValueError(f"unknown initializer {init!r}; use one of {', '.join(names)} or an Initializer") from None
