"""`gluon.contrib`: MXNet's contributed Gluon tools; here the `estimator` fit loop and the
bounding-box transforms of `data.vision.transforms.bbox`."""
from . import data, estimator

__all__ = ["data", "estimator"]
