"""The exceptions users see. Every message names what went wrong and what to do instead."""


class HybridError(Exception):
    """Base class of all hybrid errors."""


class TracingError(HybridError):
    """Python tried to read a concrete value out of a traced array (control flow, float(), asnumpy())."""


class ShapeError(HybridError, ValueError):
    """An op was given shapes or dtypes it cannot accept."""


class FormatError(HybridError):
    """An exported or serialized file is missing, truncated, tampered with or of an unknown version."""
