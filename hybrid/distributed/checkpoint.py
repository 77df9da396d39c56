"""Checkpoints of data-parallel training: written by rank 0, resumed on any number of workers.

Every rank holds the same parameters and optimizer state (each applies the same update to the
same reduced gradients), so one copy is the whole training state. `save_checkpoint` lets rank 0
write `<prefix>.params` and `<prefix>.states` (the usual versioned, pickle-free files) while the
others wait; `load_checkpoint` lets rank 0 read them and broadcasts every array, so a job of any
size (also a single process) resumes from them and only rank 0 needs to see the files.
"""
from __future__ import annotations

from typing import Optional

import numpy

from .comm import Communicator


def _comm_of(trainer) -> Optional[Communicator]:
    store = getattr(trainer, "kvstore", None)
    return store.comm if store is not None else None


def save_checkpoint(prefix: str, net, trainer) -> None:
    """Rank 0 writes the parameters and the trainer's optimizer state; all ranks return together."""
    comm = _comm_of(trainer)
    if comm is None or comm.rank == 0:
        net.save_parameters(f"{prefix}.params")
        trainer.save_states(f"{prefix}.states")
    if comm is not None:
        comm.barrier()


def load_checkpoint(prefix: str, net, trainer) -> None:
    """Rank 0 reads the checkpoint; every rank gets its arrays (and the update count)."""
    comm = _comm_of(trainer)
    if comm is None or comm.rank == 0:
        net.load_parameters(f"{prefix}.params")
        trainer.load_states(f"{prefix}.states")
    if comm is None:
        return
    for p in net.collect_params().values():
        p.set_data(comm.broadcast(p.list_data()[0]._data))   # every device replica of this rank
    for array in [s for state in trainer.states() for s in state]:
        array._assign(comm.broadcast(array._data))
    trainer.optimizer.num_update = int(comm.broadcast(numpy.array(trainer.optimizer.num_update)))
