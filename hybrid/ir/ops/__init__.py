"""Primitive op definitions. Importing this package registers every op."""
from . import conv, elementwise, layout, linalg, reduce, source  # noqa: F401
