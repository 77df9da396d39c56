"""Data-parallel training over MPI (mpi4py): the communicator and its collectives, the
KVStore (`hb.kv`), gradient buckets overlapped with backward, and the launcher
(`hybrid-launch -n N python train.py`). See docs/distributed.md."""
from .checkpoint import load_checkpoint, save_checkpoint
from .comm import Communicator, Request, import_mpi, world
from .errors import DistributedError

__all__ = ["Communicator", "Request", "DistributedError", "import_mpi", "world", "save_checkpoint",
           "load_checkpoint"]
