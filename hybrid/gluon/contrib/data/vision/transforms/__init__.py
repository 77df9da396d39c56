"""`gluon.contrib.data.vision.transforms`: the bounding-box transforms (`bbox`)."""
from . import bbox
from .bbox import ImageBboxCrop, ImageBboxRandomFlipLeftRight

__all__ = ["bbox", "ImageBboxCrop", "ImageBboxRandomFlipLeftRight"]
