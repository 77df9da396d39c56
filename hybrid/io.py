"""`hb.io`: MXNet's data-iterator protocol (DataBatch, DataIter), used by hb.image.ImageIter.

Gluon code uses gluon.data.DataLoader; these exist so MXNet scripts that iterate an ImageIter
(`for batch in it: batch.data[0], batch.label[0], batch.pad`) run unchanged.
"""
from __future__ import annotations

from typing import Optional, Sequence


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


__all__ = ["DataBatch", "DataIter"]
