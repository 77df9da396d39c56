"""`gluon.contrib.data.vision`: bounding-box aware image transforms."""
from . import transforms

__all__ = ["transforms"]
