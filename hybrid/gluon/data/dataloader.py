"""`DataLoader`: batches from a Dataset, optionally shuffled and loaded by worker threads.

Samples are stacked into hybrid NDArrays by `default_batchify_fn`; 64-bit NumPy data becomes
32-bit (float32 / int32), hybrid's default dtypes. Worker threads (num_workers > 0) load up to
`prefetch` batches ahead and yield them in order; they help when the dataset's transforms
spend their time in NumPy (which releases the GIL).
"""
from __future__ import annotations

import collections
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy

from ...core.array import NDArray
from .dataset import Dataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

_NARROW = {numpy.dtype(numpy.float64): numpy.float32, numpy.dtype(numpy.int64): numpy.int32}


def default_batchify_fn(samples: list):
    """Stack a list of samples; tuples are batchified field by field."""
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(default_batchify_fn(list(field)) for field in zip(*samples))
    stacked = numpy.stack([numpy.asarray(s) for s in samples])
    narrow = _NARROW.get(stacked.dtype)
    return NDArray(stacked.astype(narrow) if narrow is not None else stacked)


class DataLoader:
    """Gluon's DataLoader. Give batch_size (with shuffle/sampler/last_batch) or a batch_sampler.
    `seed` makes shuffling reproducible."""

    def __init__(self, dataset: Dataset, batch_size: Optional[int] = None, shuffle: bool = False,
                 sampler: Optional[Sampler] = None, last_batch: Optional[str] = None,
                 batch_sampler: Optional[Sampler] = None, batchify_fn: Optional[Callable] = None,
                 num_workers: int = 0, prefetch: Optional[int] = None, seed: Optional[int] = None):
        self._dataset = dataset
        if batch_sampler is None:
            if batch_size is None:
                raise ValueError("DataLoader: batch_size must be given when batch_sampler is not")
            if sampler is None:
                sampler = RandomSampler(len(dataset), seed) if shuffle else SequentialSampler(len(dataset))
            elif shuffle:
                raise ValueError("DataLoader: shuffle must be False when a sampler is given (the sampler "
                                 "decides the order)")
            batch_sampler = BatchSampler(sampler, batch_size, last_batch or "keep")
        elif batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise ValueError("DataLoader: batch_size, shuffle, sampler and last_batch must not be given with "
                             "a batch_sampler")
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        self._batch_sampler = batch_sampler
        self._batchify_fn = batchify_fn or default_batchify_fn
        self._num_workers = num_workers
        self._prefetch = max(1, prefetch if prefetch is not None else 2 * num_workers)

    def __len__(self) -> int:
        return len(self._batch_sampler)

    def _load(self, indices: list[int]):
        return self._batchify_fn([self._dataset[i] for i in indices])

    def __iter__(self):
        batches = iter(self._batch_sampler)
        if not self._num_workers:
            for indices in batches:
                yield self._load(indices)
            return
        pool = ThreadPoolExecutor(self._num_workers, thread_name_prefix="hybrid-dataloader")
        try:
            first = itertools.islice(batches, self._prefetch)
            pending = collections.deque(pool.submit(self._load, idx) for idx in first)
            while pending:
                ready = pending.popleft()
                for idx in itertools.islice(batches, 1):
                    pending.append(pool.submit(self._load, idx))
                yield ready.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
