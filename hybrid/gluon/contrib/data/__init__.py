"""`gluon.contrib.data`: MXNet's contributed data tools; here the bounding-box transforms of
`vision.transforms.bbox`."""
from . import vision

__all__ = ["vision"]
