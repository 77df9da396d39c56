"""`gluon.model_zoo`: MXNet's model zoo (`vision`), with MXNet's architectures and parameter names."""
from . import vision
from .vision import get_model

__all__ = ["vision", "get_model"]
