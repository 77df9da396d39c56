"""`hb.metric`: the metrics of `hb.gluon.metric` under MXNet's top-level name."""
from .gluon.metric import *  # noqa: F401,F403
from .gluon.metric import __all__  # noqa: F401
