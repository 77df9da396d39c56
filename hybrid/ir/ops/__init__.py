"""Primitive op definitions. Importing this package registers every op."""
from . import blocked, collective, complex, conv, decomp, elementwise, layout, linalg, reduce, sort, source, \
    ufuncs  # noqa: F401
from . import grad_ops  # noqa: F401  (after conv and layout: it reuses their helpers)
