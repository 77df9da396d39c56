"""Samplers (Gluon names): which sample indices, in which order, grouped into batches.

For data-parallel training each worker reads its own part: `num_parts` / `part_index` (e.g.
kv.num_workers / kv.rank) give a sampler only its share, split as `Dataset.shard` splits (parts
are contiguous, the first `length % num_parts` of them one sample longer). A RandomSampler
split into parts shuffles the whole range the same way on every worker (so it needs a seed
shared by all of them) and then takes its part, so the parts never overlap.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy

LAST_BATCH = ("keep", "discard", "rollover")


class Sampler:
    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def part_range(length: int, num_parts: int, part_index: int) -> range:
    """Positions [start, stop) of part `part_index` of `num_parts` over `length` items."""
    if num_parts < 1 or not 0 <= part_index < num_parts:
        raise ValueError(f"part_index must be in [0, num_parts) and num_parts >= 1, got part_index={part_index}, "
                         f"num_parts={num_parts}")
    size, rest = divmod(length, num_parts)
    start = size * part_index + min(part_index, rest)
    return range(start, start + size + (part_index < rest))


class SequentialSampler(Sampler):
    """start, start+1, ..., start+length-1 (only part `part_index` of `num_parts` of them)."""

    def __init__(self, length: int, start: int = 0, num_parts: int = 1, part_index: int = 0):
        self._positions = part_range(length, num_parts, part_index)
        self._start = start

    def __iter__(self) -> Iterator[int]:
        return iter(range(self._start + self._positions.start, self._start + self._positions.stop))

    def __len__(self) -> int:
        return len(self._positions)


class RandomSampler(Sampler):
    """A new random permutation of range(length) each epoch. With a seed the sequence of
    epochs is reproducible (a fresh sampler with the same seed replays it)."""

    def __init__(self, length: int, seed: Optional[int] = None, num_parts: int = 1, part_index: int = 0):
        if num_parts > 1 and seed is None:
            raise ValueError("RandomSampler with num_parts > 1 needs a seed, the same on every part: each part "
                             "takes its share of one shared shuffle, so the parts do not overlap")
        self._length = length
        self._positions = part_range(length, num_parts, part_index)
        self._rng = numpy.random.default_rng(seed)

    def __iter__(self) -> Iterator[int]:
        order = self._rng.permutation(self._length)
        return iter(order[self._positions.start:self._positions.stop].tolist())

    def __len__(self) -> int:
        return len(self._positions)


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
