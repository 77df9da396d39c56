"""Samplers (Gluon names): which sample indices, in which order, grouped into batches."""
from __future__ import annotations

from typing import Iterator, Optional

import numpy

LAST_BATCH = ("keep", "discard", "rollover")


class Sampler:
    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class SequentialSampler(Sampler):
    """start, start+1, ..., start+length-1."""

    def __init__(self, length: int, start: int = 0):
        self._length, self._start = length, start

    def __iter__(self) -> Iterator[int]:
        return iter(range(self._start, self._start + self._length))

    def __len__(self) -> int:
        return self._length


class RandomSampler(Sampler):
    """A new random permutation of range(length) each epoch. With a seed the sequence of
    epochs is reproducible (a fresh sampler with the same seed replays it)."""

    def __init__(self, length: int, seed: Optional[int] = None):
        self._length = length
        self._rng = numpy.random.default_rng(seed)

    def __iter__(self) -> Iterator[int]:
        return iter(self._rng.permutation(self._length).tolist())

    def __len__(self) -> int:
        return self._length


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of batch_size. The last partial batch is kept,
    discarded, or rolled over to the start of the next epoch (last_batch)."""

    def __init__(self, sampler: Sampler, batch_size: int, last_batch: str = "keep"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if last_batch not in LAST_BATCH:
            raise ValueError(f"last_batch must be one of {LAST_BATCH}, got {last_batch!r}")
        self._sampler, self._batch_size, self._last_batch = sampler, batch_size, last_batch
        self._carry: list[int] = []

    def __iter__(self) -> Iterator[list[int]]:
        batch, self._carry = self._carry, []
        for i in self._sampler:
            batch.append(i)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch:
            if self._last_batch == "keep":
                yield batch
            elif self._last_batch == "rollover":
                self._carry = batch

    def __len__(self) -> int:
        n = len(self._sampler)
        if self._last_batch == "keep":
            return (n + self._batch_size - 1) // self._batch_size
        if self._last_batch == "discard":
            return n // self._batch_size
        return (len(self._carry) + n) // self._batch_size


class IntervalSampler(Sampler):
    """0, interval, 2*interval, ..., then 1, 1+interval, ... (rollover=True), or the first pass only."""

    def __init__(self, length: int, interval: int, rollover: bool = True):
        if not 0 < interval <= length:
            raise ValueError(f"IntervalSampler: interval must be in (0, {length}], got {interval}")
        self._length, self._interval, self._rollover = length, interval, rollover

    def __iter__(self):
        for start in range(self._interval if self._rollover else 1):
            yield from range(start, self._length, self._interval)

    def __len__(self) -> int:
        return self._length if self._rollover else len(range(0, self._length, self._interval))


class FilterSampler(Sampler):
    """The indices of the samples of `dataset` for which fn(sample) is true."""

    def __init__(self, fn, dataset):
        self._indices = [i for i in range(len(dataset)) if fn(dataset[i])]

    def __iter__(self):
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)
