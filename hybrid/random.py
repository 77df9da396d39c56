"""`hb.random`: MXNet's top-level random functions: the counter-based generator of
`hb.np.random` (one state, so `hb.random.seed` also fixes dropout masks and np.random draws)."""
from .frontend.random import normal, rand, randint, randn, seed, uniform

__all__ = ["normal", "rand", "randint", "randn", "seed", "uniform"]
