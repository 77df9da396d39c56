"""`hb.io`: MXNet's data-iterator protocol (DataBatch, DataIter), NDArrayIter over in-memory arrays,
and the base of hb.image.ImageIter.

Gluon code uses gluon.data.DataLoader; these exist so MXNet scripts that iterate an ImageIter
(`for batch in it: batch.data[0], batch.label[0], batch.pad`) run unchanged.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy


class DataBatch:
    """One batch: `data` and `label` are lists of arrays; `pad` counts the samples at the end that
    only fill the batch up (the last batch of an epoch); `index` their positions, where known."""

    def __init__(self, data: Sequence, label: Optional[Sequence] = None, pad: int = 0, index=None,
                 provide_data=None, provide_label=None):
        self.data, self.label, self.pad, self.index = list(data), None if label is None else list(label), pad, index
        self.provide_data, self.provide_label = provide_data, provide_label

    def __repr__(self) -> str:
        shapes = [tuple(d.shape) for d in self.data]
        labels = [tuple(lb.shape) for lb in self.label] if self.label is not None else None
        return f"DataBatch: data shapes {shapes}, label shapes {labels}, pad {self.pad}"


class DataIter:
    """An iterator over DataBatches: `next()` (StopIteration at the end of an epoch), `reset()`
    to start the next epoch, and the Python iteration protocol."""

    def __init__(self, batch_size: int = 0):
        self.batch_size = batch_size

    def __iter__(self) -> "DataIter":
        return self

    def __next__(self) -> DataBatch:
        return self.next()

    def reset(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define reset()")

    def next(self) -> DataBatch:
        raise NotImplementedError(f"{type(self).__name__} must define next()")


def _named_arrays(data, default_name: str) -> list[tuple[str, numpy.ndarray]]:
    """MXNet's naming: one array is `default_name`, a list gives `_0_<name>`, `_1_<name>`, ..., a dict
    keeps its names (sorted)."""
    if data is None:
        return []
    if isinstance(data, dict):
        items = sorted(data.items())
    elif isinstance(data, (list, tuple)):
        items = [(f"_{i}_{default_name}", a) for i, a in enumerate(data)]
    else:
        items = [(default_name, data)]
    return [(name, numpy.asarray(a.asnumpy() if hasattr(a, "asnumpy") else a)) for name, a in items]


class NDArrayIter(DataIter):
    """Batches of in-memory arrays (MXNet's mx.io.NDArrayIter): `data` and `label` are an array, a
    list or a dict of arrays sharing the first axis; `shuffle` reorders the samples at the start and
    at every reset (NumPy's global generator); `last_batch_handle` 'pad' (fill the last batch from the
    start, `batch.pad` says how many), 'discard' or 'roll_over' (the rest opens the next epoch)."""

    def __init__(self, data, label=None, batch_size: int = 1, shuffle: bool = False,
                 last_batch_handle: str = "pad", data_name: str = "data", label_name: str = "softmax_label"):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError(f"NDArrayIter: last_batch_handle must be 'pad', 'discard' or 'roll_over', got "
                             f"{last_batch_handle!r}")
        self.data, self.label = _named_arrays(data, data_name), _named_arrays(label, label_name)
        if not self.data:
            raise ValueError("NDArrayIter: give at least one data array")
        sizes = {a.shape[0] for _, a in self.data + self.label}
        if len(sizes) != 1:
            raise ValueError(f"NDArrayIter: the arrays have different numbers of samples {sorted(sizes)}")
        if batch_size < 1:
            raise ValueError(f"NDArrayIter: batch_size must be positive, got {batch_size}")
        self.num_data = sizes.pop()
        self.shuffle, self.last_batch_handle = shuffle, last_batch_handle
        self.provide_data = [(n, (batch_size,) + a.shape[1:]) for n, a in self.data]
        self.provide_label = [(n, (batch_size,) + a.shape[1:]) for n, a in self.label]
        self._carry: list[int] = []      # 'roll_over': the samples left from the last epoch
        self.reset()

    def reset(self) -> None:
        self._order = numpy.random.permutation(self.num_data) if self.shuffle else numpy.arange(self.num_data)
        self._queue = list(self._carry) + list(self._order)
        self._carry = []
        self._done = False

    def hard_reset(self) -> None:
        self._carry = []
        self.reset()

    def next(self) -> DataBatch:
        from .core.array import NDArray
        if self._done or not self._queue:
            raise StopIteration
        take, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
        pad = self.batch_size - len(take)
        if pad:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over":
                self._carry = take
                raise StopIteration
            take = take + [int(i) for i in numpy.resize(self._order, pad)]   # 'pad': wrap to the start
            self._done = True

        def batch(arrays):
            return [NDArray(numpy.ascontiguousarray(a[take])) for _, a in arrays]
        return DataBatch(batch(self.data), batch(self.label) if self.label else None, pad=pad)


__all__ = ["DataBatch", "DataIter", "NDArrayIter"]
