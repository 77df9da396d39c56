"""`gluon.nn`: the layers of `hb.nn` under Gluon's path (mxnet.gluon.nn)."""
from ...frontend.nn import *  # noqa: F401,F403
from ...frontend.nn import __all__  # noqa: F401
