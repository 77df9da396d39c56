"""Initializers (Gluon names). They are keyed by hb.np.random, so np.random.seed makes them repeatable."""
from __future__ import annotations

import math

import numpy


class Initializer:
    """An initializer gives a parameter's first value. Hybrid's own define `__call__(shape, dtype)`;
    subclasses written against MXNet instead define `_init_weight(name, arr)` (and optionally
    `_init_bias`, `_init_gamma`, `_init_beta`), which fill an hb array in place, chosen by the
    parameter name's suffix as MXNet's Initializer does (e.g. the d2l book's MyInit)."""

    def __call__(self, shape: tuple[int, ...], dtype) -> numpy.ndarray:
        return self._fill("weight", shape, dtype)

    def for_parameter(self, name: str, shape: tuple[int, ...], dtype) -> numpy.ndarray:
        """The value for the parameter called `name`."""
        if type(self).__call__ is not Initializer.__call__:
            return self(shape, dtype)
        return self._fill(name, shape, dtype)

    def _fill(self, name: str, shape, dtype) -> numpy.ndarray:
        from ..core.array import NDArray
        arr = NDArray(numpy.zeros(shape, dtype))
        for suffix, method in (("weight", self._init_weight), ("bias", self._init_bias),
                               ("gamma", self._init_gamma), ("beta", self._init_beta)):
            if name.endswith(suffix):
                method(name, arr)
                return arr.asnumpy()
        raise ValueError(f"{type(self).__name__}: no rule for the parameter {name!r}; MXNet-style initializers "
                         f"fill names ending in weight, bias, gamma or beta (give the parameter its own init=)")

    def given_global(self, init) -> "Initializer":
        """This parameter's own initializer once `initialize(init)` names the global one (None: none
        given): itself, except for a composite whose parts default to the global initializer (a fused
        RNN layer's weights)."""
        return self

    def _init_weight(self, name: str, arr) -> None:
        raise TypeError(f"{type(self).__name__} defines neither __call__(shape, dtype) nor MXNet's "
                        f"_init_weight(name, arr); define one of them to initialize {name!r}")

    def _init_bias(self, name: str, arr) -> None:
        arr[:] = 0.0

    def _init_gamma(self, name: str, arr) -> None:
        arr[:] = 1.0

    def _init_beta(self, name: str, arr) -> None:
        arr[:] = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        """Equal when of the same class with the same settings (MXNet compares initializers so, e.g. a
        shared parameter's against a fresh block's)."""
        if not isinstance(other, Initializer):
            return NotImplemented
        mine, theirs = vars(self), vars(other)
        return type(self) is type(other) and mine.keys() == theirs.keys() and all(
            numpy.array_equal(numpy.asarray(mine[k]), numpy.asarray(theirs[k])) if _is_array(mine[k])
            else mine[k] == theirs[k] for k in mine)

    def __hash__(self) -> int:
        return hash(type(self))


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _generator() -> numpy.random.Generator:
    """A NumPy generator keyed by the next draw of hb's counter-based generator: hb.random.seed
    makes initialization repeatable, and a 100M-weight model initializes in a second (drawing
    that many values through the counter-based kernel took minutes)."""
    from ..core.rng import take_keys
    seed, counter = (int(k) for k in take_keys(1))
    return numpy.random.Generator(numpy.random.Philox(key=(seed << 32) | counter))


def _draw_uniform(shape, low, high):
    return _generator().uniform(low, high, size=shape)


def _draw_normal(shape, sigma):
    return _generator().normal(0.0, sigma, size=shape)


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


class MSRAPrelu(Xavier):
    """He/Kaiming initialization for PReLU nets: Gaussian, magnitude 2 / (1 + slope^2)."""

    def __init__(self, factor_type: str = "avg", slope: float = 0.25):
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope ** 2))


class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix over (shape[0], prod(shape[1:])), from the SVD of a random draw."""

    def __init__(self, scale: float = 1.414, rand_type: str = "uniform"):
        self.scale, self.rand_type = scale, rand_type

    def __call__(self, shape, dtype):
        rows, cols = shape[0], int(numpy.prod(shape[1:]))
        draw = _draw_uniform((rows, cols), -1.0, 1.0) if self.rand_type == "uniform" else _draw_normal((rows, cols), 1.0)
        u, _, v = numpy.linalg.svd(draw, full_matrices=False)
        q = u if u.shape == (rows, cols) else v
        return (self.scale * q).reshape(shape).astype(dtype)


class Bilinear(Initializer):
    """Bilinear upsampling kernels (for Conv2DTranspose used as an upsampler)."""

    def __call__(self, shape, dtype):
        kh, kw = shape[-2], shape[-1]
        f = math.ceil(kw / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        ys, xs = numpy.meshgrid(numpy.arange(kh), numpy.arange(kw), indexing="ij")
        kernel = (1 - numpy.abs(xs / f - c)) * (1 - numpy.abs(ys / f - c))
        return numpy.broadcast_to(kernel, shape).astype(dtype)


class LSTMBias(Initializer):
    """Zero biases except the forget gate's (the second quarter), set to `forget_bias`."""

    def __init__(self, forget_bias: float = 1.0):
        self.forget_bias = forget_bias

    def __call__(self, shape, dtype):
        out = numpy.zeros(shape, dtype)
        quarter = shape[0] // 4
        out[quarter:2 * quarter] = self.forget_bias
        return out


class Mixed(Initializer):
    """Pick the initializer by matching the parameter's name against regular expressions in order."""

    def __init__(self, patterns, initializers):
        import re
        if len(patterns) != len(initializers):
            raise ValueError(f"Mixed: {len(patterns)} patterns for {len(initializers)} initializers")
        self.map = [(re.compile(p), create(i)) for p, i in zip(patterns, initializers)]

    def for_name(self, name: str) -> Initializer:
        for pattern, init in self.map:
            if pattern.match(name):
                return init
        raise ValueError(f"Mixed: parameter {name!r} matches none of the patterns; add '.*' as a last pattern")

    def __call__(self, shape, dtype):
        raise ValueError("Mixed picks an initializer by parameter name: pass it to block.initialize()")


def create(init) -> Initializer:
    """An Initializer from an instance or a name ('zeros', 'ones', 'xavier', 'normal', 'uniform')."""
    if isinstance(init, Initializer):
        return init
    names = {"zeros": Zero, "zero": Zero, "ones": One, "one": One, "xavier": Xavier, "normal": Normal,
             "uniform": Uniform, "msraprelu": MSRAPrelu, "orthogonal": Orthogonal, "bilinear": Bilinear,
             "lstmbias": LSTMBias}
    try:
        return names[str(init).lower()]()
    except KeyError:
        raise ValueError(f"unknown initializer {init!r}; use one of {', '.join(names)} or an Initializer") from None


__all__ = ["Initializer", "Zero", "One", "Constant", "Uniform", "Normal", "Xavier", "MSRAPrelu", "Orthogonal",
           "Bilinear", "LSTMBias", "Mixed", "create"]
