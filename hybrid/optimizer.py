"""`hb.optimizer`: the optimizers of `hb.gluon.optimizer` under MXNet's top-level name."""
from .gluon.optimizer import *  # noqa: F401,F403
from .gluon.optimizer import __all__  # noqa: F401
