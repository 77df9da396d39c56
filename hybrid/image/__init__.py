"""`hb.image`: MXNet's image functions and augmenters (functions.py) and ImageIter (iterator.py)."""
from .functions import *  # noqa: F401,F403
from .functions import __all__ as _functions
from .iterator import ImageIter

__all__ = list(_functions) + ["ImageIter"]
