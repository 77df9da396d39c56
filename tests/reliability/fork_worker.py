"""Module-level functions for test_fork.py: spawn and forkserver children import them by name."""
import numpy as onp

import hybrid as hb
from hybrid import np

# big enough that the entry point splits across the thread team
X = onp.random.default_rng(0).standard_normal((512, 1024)).astype("float32")


def model(x):
    return np.tanh(x * 2.0 + 1.0).sum(axis=1)


COMPILED = hb.hybridize(model, backend="llvm")


def compiled_sum(seed: int) -> float:
    return float(COMPILED(X + seed).asnumpy().sum())


def expected_sum(seed: int) -> float:
    return float(onp.tanh((X + seed) * 2.0 + 1.0).sum())
