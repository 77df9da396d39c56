"""`gluon.contrib`: MXNet's contributed Gluon tools; here the `estimator` fit loop."""
from . import estimator

__all__ = ["estimator"]
