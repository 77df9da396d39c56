"""`DataLoader`: batches from a Dataset, optionally shuffled and loaded by workers.

Samples are stacked into hybrid NDArrays by `default_batchify_fn`; 64-bit NumPy data becomes
32-bit (float32 / int32), hybrid's default dtypes. With num_workers > 0, worker processes
(forked, so the dataset is not pickled; MXNet's default) or, with thread_pool=True, threads load
up to `prefetch` batches ahead and the batches arrive in order. Processes sidestep the GIL for
Python-heavy transforms; threads suit transforms that spend their time in NumPy.
"""
from __future__ import annotations

import collections
import itertools
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy

from ...core.array import NDArray
from ...core.context import cpu_pinned
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
                 num_workers: int = 0, pin_memory: bool = False, pin_device_id: int = 0,
                 prefetch: Optional[int] = None, thread_pool: bool = False, timeout: int = 120,
                 seed: Optional[int] = None):
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
        # pin_memory asks MXNet for page-locked host buffers for faster GPU copies; batches here are
        # ordinary host arrays (that a CUDA-hybridized block uploads itself) placed on cpu_pinned(id)
        self._pinned = cpu_pinned(pin_device_id) if pin_memory else None
        self._thread_pool, self._timeout = thread_pool, timeout

    def __len__(self) -> int:
        return len(self._batch_sampler)

    def _load(self, indices: list[int]):
        return self._batchify_fn([self._dataset[i] for i in indices])

    def __iter__(self):
        for batch in self._batches():
            yield batch if self._pinned is None else _placed(batch, self._pinned)

    def _batches(self):
        batches = iter(self._batch_sampler)
        if not self._num_workers:
            for indices in batches:
                yield self._load(indices)
            return
        if self._thread_pool:
            pool = ThreadPoolExecutor(self._num_workers, thread_name_prefix="hybrid-dataloader")
            submit, result = (lambda idx: pool.submit(self._load, idx)), (lambda f: f.result(self._timeout))
            close = lambda: pool.shutdown(wait=False, cancel_futures=True)  # noqa: E731
        else:
            pool = _process_pool(self._num_workers, self._dataset, self._batchify_fn)
            submit = lambda idx: pool.apply_async(_worker_load, (idx,))  # noqa: E731
            result = lambda f: _to_device_arrays(f.get(self._timeout))  # noqa: E731
            close = lambda: _terminate(pool, pending, self._timeout)  # noqa: E731
        pending: collections.deque = collections.deque()
        try:
            pending.extend(submit(idx) for idx in itertools.islice(batches, self._prefetch))
            while pending:
                ready = pending.popleft()
                for idx in itertools.islice(batches, 1):
                    pending.append(submit(idx))
                yield result(ready)
        finally:
            close()


# -- worker processes ---------------------------------------------------------------------------
_WORKER: dict = {}


def _worker_init(dataset, batchify_fn) -> None:
    _WORKER.update(dataset=dataset, batchify_fn=batchify_fn)


def _to_host(batch):
    """NDArrays as NumPy arrays, for the trip back from a worker process."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_host(b) for b in batch)
    return ("nd", batch.asnumpy()) if isinstance(batch, NDArray) else batch


def _placed(batch, ctx):
    """The NDArrays of a (nested) batch moved to `ctx`."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(_placed(b, ctx) for b in batch)
    return batch.as_in_context(ctx) if isinstance(batch, NDArray) else batch


def _to_device_arrays(batch):
    if isinstance(batch, tuple) and len(batch) == 2 and batch[0] == "nd" and isinstance(batch[1], numpy.ndarray):
        return NDArray(batch[1])
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device_arrays(b) for b in batch)
    return batch


def _worker_load(indices: list):
    dataset = _WORKER["dataset"]
    return _to_host(_WORKER["batchify_fn"]([dataset[i] for i in indices]))


def _terminate(pool, pending, timeout) -> None:
    """Stop the workers of an iterator left early. The batches still in flight are received first:
    CPython's Pool.terminate stops its result thread and then writes a sentinel into the results
    pipe, which hangs forever when unread batches fill that pipe (large batches, many workers)."""
    for batch in pending:
        batch.wait(timeout)
    pool.terminate()


def _process_pool(workers: int, dataset, batchify_fn):
    """Forked workers inherit the dataset (no pickling); where fork does not exist, spawned workers
    receive it pickled."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return context.Pool(workers, initializer=_worker_init, initargs=(dataset, batchify_fn))
