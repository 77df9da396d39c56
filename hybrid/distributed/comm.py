"""The MPI communicator: collectives on NumPy buffers, each bounded by a timeout.

mpi4py is imported lazily (it is the optional `dist` extra), so `import hybrid` never needs MPI.
Every collective is issued non-blocking and waited on with a deadline: a peer that died or hangs
turns into a DistributedError naming the collective and this rank after `timeout` seconds
(hb.config dist_timeout / HYBRID_DIST_TIMEOUT, default 120), and the job is aborted so no rank is left waiting.

    comm = world()                       # the communicator of all processes (MPI.COMM_WORLD)
    total = comm.allreduce(x)            # sum over ranks (a new array); op="avg" averages
    req = comm.iallreduce(buf); ...; req.wait()   # in place, overlapped with other work
"""
from __future__ import annotations

import sys
import time
from typing import Optional

import ml_dtypes
import numpy

from ..config import config
from .errors import DistributedError
from .launch import record_error

REDUCE_OPS = ("sum", "avg")


# 16-bit floats, reduced by hybrid's own MPI op (gradient compression, hybrid.distributed.compression)
HALF_DTYPES = (numpy.dtype(numpy.float16), numpy.dtype(ml_dtypes.bfloat16))


def import_mpi():
    """mpi4py's MPI module, or a clear error saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError("distributed training needs mpi4py and an MPI library: "
                               "pip install 'hybrid[dist]' (installs mpi4py and the mpich wheel), or install "
                               f"mpi4py against your system MPI ({e})") from None
    return MPI


def default_timeout() -> float:
    return config.get("dist_timeout")


class Request:
    """A pending non-blocking collective; `wait()` returns its result buffer."""

    def __init__(self, comm: "Communicator", mpi_request, result: numpy.ndarray, what: str, scale=None):
        self._comm, self._request, self._result, self._what, self._scale = comm, mpi_request, result, what, scale
        self._done = False

    def test(self) -> bool:
        """Whether it has finished; also lets MPI move it along (MPICH progresses non-blocking
        collectives only inside MPI calls, so callers poke pending ones between compute)."""
        return self._done or bool(self._request.Test())

    def wait(self) -> numpy.ndarray:
        if not self._done:
            self._comm._wait(self._request, self._what)
            if self._scale is not None:
                self._result *= self._result.dtype.type(self._scale)
            self._done = True
        return self._result


class Communicator:
    """Collectives over an MPI communicator. Buffers are C-contiguous NumPy arrays."""

    def __init__(self, mpi_comm=None, timeout: Optional[float] = None):
        self.MPI = import_mpi()
        self._comm = mpi_comm if mpi_comm is not None else self.MPI.COMM_WORLD
        self.timeout = default_timeout() if timeout is None else float(timeout)
        if self.timeout <= 0:
            raise DistributedError(f"timeout must be positive, got {self.timeout}")

    @property
    def rank(self) -> int:
        return self._comm.Get_rank()

    @property
    def size(self) -> int:
        return self._comm.Get_size()

    # -- collectives ---------------------------------------------------------------------------
    def iallreduce(self, buffer: numpy.ndarray, op: str = "sum") -> Request:
        """Start reducing `buffer` across ranks in place (op "sum" or "avg")."""
        _check_op(op)
        buffer = _contiguous(buffer, "iallreduce")
        if buffer.dtype in HALF_DTYPES:   # fp16 / bf16: MPI has no such type
            message = [_words(buffer), self.MPI.UINT16_T]
            request = self._comm.Iallreduce(self.MPI.IN_PLACE, message, op=self._half_sum(buffer.dtype))
        else:
            request = self._comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return Request(self, request, buffer, f"allreduce of {buffer.size} x {buffer.dtype}",
                       1.0 / self.size if op == "avg" else None)

    def _half_sum(self, dtype: numpy.dtype):
        """An MPI reduction op adding 16-bit floats (sent as uint16 words) in that type."""
        ops = self.__dict__.setdefault("_half_ops", {})
        if dtype not in ops:
            def add(inbuf, inoutbuf, datatype, dtype=dtype):
                into = numpy.frombuffer(inoutbuf, dtype)
                into += numpy.frombuffer(inbuf, dtype)
            ops[dtype] = self.MPI.Op.Create(add, commute=True)
        return ops[dtype]

    def allreduce(self, array, op: str = "sum") -> numpy.ndarray:
        """The sum (or average) of `array` over all ranks, as a new array."""
        return self.iallreduce(numpy.array(array, order="C"), op).wait()

    def broadcast(self, array, root: int = 0) -> numpy.ndarray:
        """Rank `root`'s `array` on every rank (a new array; shapes and dtypes must agree)."""
        buffer = numpy.array(array, order="C")
        self._wait(self._comm.Ibcast(_words(buffer), root=root), f"broadcast of {buffer.shape} {buffer.dtype}")
        return buffer

    def allgather(self, array) -> numpy.ndarray:
        """Every rank's `array` stacked along a new first axis (equal shapes on all ranks)."""
        local = numpy.ascontiguousarray(array)
        out = numpy.empty((self.size,) + local.shape, local.dtype)
        self._wait(self._comm.Iallgather(_words(local), _words(out)), f"allgather of {local.shape} {local.dtype}")
        return out

    def allgather_text(self, text: str) -> list[str]:
        """Every rank's string (UTF-8 bytes; used to compare parameter signatures, no pickle)."""
        data = numpy.frombuffer(text.encode(), numpy.uint8)
        lengths = self.allgather(numpy.array([data.size], numpy.int64))[:, 0]
        out = numpy.empty(int(lengths.sum()), numpy.uint8)
        offsets = numpy.concatenate([[0], numpy.cumsum(lengths)[:-1]])
        request = self._comm.Iallgatherv(data, [out, (lengths.tolist(), offsets.tolist()), self.MPI.BYTE])
        self._wait(request, "allgather of parameter signatures")
        return [out[o:o + n].tobytes().decode() for o, n in zip(offsets, lengths)]

    def barrier(self) -> None:
        self._wait(self._comm.Ibarrier(), "barrier")

    def abort(self, message: str, code: int = 1) -> None:
        """Print `message` and end every rank of the job (MPI_Abort)."""
        line = f"hybrid.distributed: rank {self.rank} of {self.size}: {message}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        record_error(line)   # MPI_Abort may tear the job down before mpiexec forwards that output
        self._comm.Abort(code)

    # -- waiting with a deadline ----------------------------------------------------------------
    def _wait(self, request, what: str) -> None:
        """Poll `request` until done; spin briefly (small messages finish in microseconds),
        then back off to short sleeps so a waiting rank leaves the core to the others."""
        deadline = time.monotonic() + self.timeout
        spins, pause = 0, 0.0
        while not request.Test():
            spins += 1
            if spins > 200:
                pause = min(0.002, pause + 5e-5)
                time.sleep(pause)
            if time.monotonic() > deadline:
                message = (f"{what} did not finish within {self.timeout:g} s (HYBRID_DIST_TIMEOUT): another rank "
                           f"died, raised, or is not taking part in the same collective")
                self.abort(message)
                raise DistributedError(f"rank {self.rank}: {message}")


def _words(buffer: numpy.ndarray) -> numpy.ndarray:
    """16-bit floats as uint16 words for copying collectives (mpi4py knows no fp16/bf16 type)."""
    return buffer.view(numpy.uint16) if buffer.dtype in HALF_DTYPES else buffer


def _check_op(op: str) -> None:
    if op not in REDUCE_OPS:
        raise DistributedError(f"allreduce: op must be one of {REDUCE_OPS}, got {op!r}")


def _contiguous(buffer, what: str) -> numpy.ndarray:
    if not isinstance(buffer, numpy.ndarray) or not buffer.flags.c_contiguous or not buffer.flags.writeable:
        raise DistributedError(f"{what} works in place on a writeable C-contiguous NumPy array, got "
                               f"{type(buffer).__name__}; use allreduce(), which copies")
    return buffer


_WORLD: Optional[Communicator] = None


def world() -> Communicator:
    """The communicator of every process of the job (created once; installs the fault hook)."""
    global _WORLD
    if _WORLD is None:
        from .faults import install_abort_on_error
        from .launch import record_pid

        _WORLD = Communicator()
        record_pid(_WORLD.rank)
        if _WORLD.size > 1:
            install_abort_on_error(_WORLD)
    return _WORLD
