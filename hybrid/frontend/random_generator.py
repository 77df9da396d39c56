"""NumPy's Generator API (`hb.np.random.default_rng(seed)`) and the legacy module functions
(`hb.np.random.gamma(...)`, `RandomState`), over random_dists.Distributions.

A Generator owns its (seed, counter) state, so two generators with one seed draw the same
numbers. Inside hybridized code the draws come from the graph's key (`%rng.key`, the global
state), as for the module functions.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy

from .random_dists import Distributions, Source


def _tracing() -> bool:
    from ..core.tracing import current_trace
    return current_trace() is not None


def _global_key():
    from ..core.rng import next_key
    return next_key()


class Generator(Distributions):
    """A counter-based generator with NumPy's Generator methods (float32 by default, int64 integers)."""

    def __init__(self, seed: Optional[int] = None):
        if seed is None:
            seed = int(numpy.random.SeedSequence().entropy) & 0xFFFFFFFF
        elif isinstance(seed, Generator):
            seed = seed._seed
        self._seed = int(numpy.asarray(seed).reshape(-1)[0] if numpy.ndim(seed) else seed) & 0xFFFFFFFF
        self._counter = 0
        self._lock = threading.Lock()
        super().__init__(Source(self._key, _tracing))

    def _key(self):
        from ..core.array import NDArray
        from ..core.tracing import current_trace
        trace = current_trace()
        if trace is not None:
            return trace.rng_key()
        with self._lock:
            key = numpy.array([self._seed, self._counter], numpy.uint32)
            self._counter = (self._counter + 1) & 0xFFFFFFFF
        return NDArray(key)

    def spawn(self, n_children: int) -> list:
        return [Generator((self._seed * 1000003 + i + 1) & 0xFFFFFFFF) for i in range(n_children)]

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed}, counter={self._counter})"


def default_rng(seed=None) -> Generator:
    return Generator(seed)


class RandomState(Generator):
    """The legacy seeded generator: Generator plus the legacy method names."""

    def rand(self, *shape):
        return self.random(shape)

    def randn(self, *shape):
        return self.standard_normal(shape)

    def randint(self, low, high=None, size=None, dtype="int32"):
        return self.integers(low, high, size, dtype)

    def random_sample(self, size=None):
        return self.random(size)

    def seed(self, seed=None) -> None:
        self.__init__(seed)


GLOBAL = Distributions(Source(_global_key, _tracing))
BitGenerator, PCG64, PCG64DXSM, Philox, SeedSequence, MT19937, SFC64 = (
    numpy.random.BitGenerator, numpy.random.PCG64, numpy.random.PCG64DXSM, numpy.random.Philox,
    numpy.random.SeedSequence, numpy.random.MT19937, numpy.random.SFC64)
