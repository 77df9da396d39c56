"""Collective ops: `allreduce`, the one op with effects (it exchanges data with the other
processes of a data-parallel job).

    %g0r, %g1r = allreduce(%g0, %g1) {reduce="sum", bucket=0} : f32[128,784], f32[128]

One node reduces one bucket: its inputs (all of one dtype) travel as one message. The op
reaches MPI through a communicator that the distributed layer installs (`set_communicator`;
the IR never imports it; with none installed the job is one process and reducing is the
identity): `start_allreduce` begins the non-blocking reduction and returns a
handle whose `wait()` gives the results, so a split executable (hybrid.codegen.segmented) can
run more of the program while the message is in flight; the reference (interp, eager) waits
at once.
"""
from __future__ import annotations

from typing import Optional

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register

REDUCTIONS = ("sum", "avg")
_COMMUNICATOR: Optional[object] = None


def set_communicator(comm) -> None:
    """Install the object whose `iallreduce(buffer, op)` the allreduce op calls (or None)."""
    global _COMMUNICATOR
    _COMMUNICATOR = comm


def _infer(types, reduce, bucket):
    if not types:
        raise ShapeError("allreduce needs at least one input")
    if reduce not in REDUCTIONS:
        raise ShapeError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ShapeError(f"one allreduce bucket holds one dtype, got {sorted(dtypes)}; split the bucket by dtype")
    return list(types)


class PendingAllreduce:
    """An allreduce in flight; `wait()` returns the reduced arrays (shapes of the inputs)."""

    def __init__(self, request, shapes: list[tuple]):
        self._request, self._shapes = request, shapes

    def wait(self) -> tuple:
        flat = self._request.wait()
        out, offset = [], 0
        for shape in self._shapes:
            size = int(numpy.prod(shape, dtype=numpy.int64))
            out.append(flat[offset:offset + size].reshape(shape).copy())
            offset += size
        return tuple(out)


class _OneProcess:
    """The finished request of a reduction over a single process: the buffer as it is."""

    def __init__(self, buffer: numpy.ndarray):
        self.buffer = buffer

    def wait(self) -> numpy.ndarray:
        return self.buffer


def start_allreduce(*arrays, reduce: str = "sum", bucket: int = 0) -> PendingAllreduce:
    buffer = numpy.concatenate([numpy.asarray(a).reshape(-1) for a in arrays])
    request = _COMMUNICATOR.iallreduce(buffer, reduce) if _COMMUNICATOR is not None else _OneProcess(buffer)
    return PendingAllreduce(request, [numpy.shape(a) for a in arrays])


def _reference(*arrays, reduce: str = "sum", bucket: int = 0):
    results = start_allreduce(*arrays, reduce=reduce, bucket=bucket).wait()
    return results if len(results) > 1 else results[0]


register(OpDef("allreduce", _infer, _reference, "collective", attrs=("reduce", "bucket"), differentiable=False,
               effects=True, extra={"start": start_allreduce},
               doc="sum (or average) each input over every process of the job; one node is one bucket"))
