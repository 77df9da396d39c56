"""The exceptions users see. Every message names what went wrong and what to do instead."""


class HybridError(Exception):
    """Base class of all hybrid errors."""


class TracingError(HybridError):
    """Python tried to read a concrete value out of a traced array (control flow, float(), asnumpy())."""


class DataDependentShapeError(TracingError):
    """A traced op whose result's shape depends on the data (np.unique, x[mask], np.nonzero without
    size=): a compiled graph has static shapes. A hybridized block runs such a forward eagerly."""


class ShapeError(HybridError, ValueError):
    """An op was given shapes or dtypes it cannot accept."""


class CastingError(HybridError, TypeError):
    """An in-place write whose result NumPy's 'same_kind' rule does not let back into the array
    (an int array `+= 1.5`), as NumPy's UFuncTypeError."""


class FormatError(HybridError):
    """An exported or serialized file is missing, truncated, tampered with or of an unknown version."""


class IndexOutOfRangeError(HybridError, IndexError):
    """A compiled take (gather, Embedding, x[idx]) met an index outside its axis, as eager
    code would (there an IndexError)."""


class DomainError(HybridError, ValueError):
    """A compiled op met an input value outside its domain where eager NumPy raises a
    ValueError (an integer raised to a negative integer power)."""
