"""The errors of distributed training."""
from ..errors import HybridError


class DistributedError(HybridError):
    """A collective failed: a peer died or raised, timed out, or the ranks disagree (shapes, keys)."""
