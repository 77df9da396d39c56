"""`hb.image`: MXNet's image functions and augmenters (Pillow decoding; functions.py) and ImageIter, batches of augmented images from .rec/.lst files or a list (iterator.py)."""
from .functions import *  # noqa: F401,F403
from .functions import __all__ as _functions
from .iterator import ImageIter

__all__ = list(_functions) + ["ImageIter"]
