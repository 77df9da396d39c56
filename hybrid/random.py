"""`hb.random`: MXNet's top-level random functions (legacy signatures: shape=, dtype=, ctx=, out=;
NumPy's size= is accepted too) over the counter-based generator of `hb.np.random` (one state, so
`hb.random.seed` also fixes dropout masks and np.random draws)."""
from .ndarray.random import normal, rand, randint, randn, seed, uniform

__all__ = ["normal", "rand", "randint", "randn", "seed", "uniform"]
