"""Gradient buckets (a fusion buffer): many small arrays allreduced as a few large messages.

A bucket is one flat buffer holding several arrays of one dtype, filled in the order the arrays
become ready (for gradients: reverse layer order, as backward produces them). When its last
array arrives, the bucket's non-blocking allreduce starts at once, so communication of the
late layers' gradients overlaps the rest of backward; `wait()` collects every result.

    buckets = Buckets(comm, [(shape, dtype), ...], bucket_bytes=25 << 20)
    buckets.ready(i, grad_i)       # any order; starts a bucket's allreduce when it is full
    reduced = buckets.wait()       # list of arrays, in the order of the specs

With gradient compression (hybrid.distributed.compression) a bucket of float32/float64 arrays
holds them as float16/bfloat16: they are rounded when handed in, reduced in the 16-bit type and
widened back by `wait()`.

Bucket size: HYBRID_DIST_BUCKET_MB (default 4 MiB here: CPU training steps are short, so smaller
buckets start communicating earlier); 0 gives one bucket per array.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy

from ..config import config
from .comm import Communicator
from .compression import GradientCompression
from .errors import DistributedError



def default_bucket_bytes() -> int:
    return int(config.get("dist_bucket_mb") * (1 << 20))


def plan_buckets(specs: Sequence[tuple[tuple, numpy.dtype]], bucket_bytes: int) -> list[list[int]]:
    """Group array indices (taken in the given order) into buckets of one dtype and at most
    `bucket_bytes` (an array larger than that gets a bucket of its own)."""
    buckets: list[list[int]] = []
    open_bucket: dict[numpy.dtype, tuple[list[int], int]] = {}
    for i, (shape, dtype) in enumerate(specs):
        dtype = numpy.dtype(dtype)
        nbytes = int(numpy.prod(shape, dtype=numpy.int64)) * dtype.itemsize
        members, used = open_bucket.get(dtype, (None, 0))
        if members is None or used + nbytes > bucket_bytes:
            members, used = [], 0
            buckets.append(members)
        members.append(i)
        open_bucket[dtype] = (members, used + nbytes)
    return buckets


class Buckets:
    """Fusion buffers for a fixed list of (shape, dtype) arrays; reusable step after step."""

    def __init__(self, comm: Communicator, specs: Sequence[tuple[tuple, numpy.dtype]],
                 bucket_bytes: Optional[int] = None, op: str = "sum",
                 compression: Optional[GradientCompression] = None):
        self.comm, self.op = comm, op
        compression = compression if compression is not None else GradientCompression(None)
        self.specs = [(tuple(shape), numpy.dtype(dtype)) for shape, dtype in specs]
        self.groups = plan_buckets(self.specs, default_bucket_bytes() if bucket_bytes is None else bucket_bytes)
        self._where: dict[int, tuple[int, slice]] = {}
        self._buffers = []
        for b, members in enumerate(self.groups):
            offset = 0
            for i in members:
                size = int(numpy.prod(self.specs[i][0], dtype=numpy.int64))
                self._where[i] = (b, slice(offset, offset + size))
                offset += size
            self._buffers.append(numpy.empty(offset, compression.wire_dtype(self.specs[members[0]][1])))
        self._reset()

    def _reset(self) -> None:
        self._missing = [len(m) for m in self.groups]
        self._filled: set[int] = set()
        self._requests: list = [None] * len(self.groups)

    def ready(self, i: int, array) -> None:
        """Copy array i into its bucket; start the bucket's allreduce once it is complete."""
        if i in self._filled:
            raise DistributedError(f"gradient bucket: array {i} was handed in twice in one step")
        shape, dtype = self.specs[i]
        value = numpy.asarray(array)
        if value.shape != shape:
            raise DistributedError(f"gradient bucket: array {i} has shape {value.shape}, expected {shape}")
        b, where = self._where[i]
        self._buffers[b][where] = value.reshape(-1)
        self._filled.add(i)
        self._missing[b] -= 1
        if self._missing[b] == 0:
            self._requests[b] = self.comm.iallreduce(self._buffers[b], self.op)
        for request in self._requests:   # move the messages in flight along (see Request.test)
            if request is not None:
                request.test()

    def wait(self) -> list[numpy.ndarray]:
        """Every array reduced over all ranks (views into the buckets, valid until the next step)."""
        missing = [i for i in range(len(self.specs)) if i not in self._filled]
        if missing:
            raise DistributedError(f"gradient bucket: arrays {missing} were never handed in this step (a parameter "
                                   "got no gradient); every rank must reduce the same arrays")
        for request in self._requests:
            request.wait()
        out = []
        for i, (shape, dtype) in enumerate(self.specs):
            b, where = self._where[i]
            reduced = self._buffers[b][where].reshape(shape)
            out.append(reduced if reduced.dtype == dtype else reduced.astype(dtype))
        self._reset()
        return out

    @property
    def pending(self) -> bool:
        return bool(self._filled)

    @property
    def started(self) -> int:
        """How many buckets of this step have started their allreduce."""
        return sum(r is not None for r in self._requests)

    def wait_all_started(self) -> None:
        """Finish the messages already started and forget this step's arrays (every rank starts
        the same buckets, so the collectives still match across ranks)."""
        for request in self._requests:
            if request is not None:
                request.wait()
        self._reset()
