"""`hb.lr_scheduler`: the schedules of `hb.gluon.lr_scheduler` under MXNet's top-level name."""
from .gluon.lr_scheduler import *  # noqa: F401,F403
from .gluon.lr_scheduler import __all__  # noqa: F401
