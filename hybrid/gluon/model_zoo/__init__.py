"""`gluon.model_zoo`: pretrained-architecture networks (vision), MXNet's names."""
from . import vision
from .vision import get_model

__all__ = ["vision", "get_model"]
