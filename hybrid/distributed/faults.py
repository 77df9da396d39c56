"""Fail fast: an exception on one rank ends the whole job, naming the rank and the error.

Without this, a rank that raises exits while its peers wait forever in the next collective.
The hook prints the traceback as usual, then `MPI_Abort`s, which makes the MPI launcher kill
every rank within seconds. A rank killed outright (SIGKILL, OOM) is noticed by the launcher
(mpiexec), which ends the others; a hang is bounded by the collectives' timeout.
"""
from __future__ import annotations

import sys
import traceback


def install_abort_on_error(comm) -> None:
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        last = traceback.format_exception_only(kind, value)[-1].strip()
        comm.abort(f"failed with {last}; aborting all {comm.size} ranks")

    sys.excepthook = hook
