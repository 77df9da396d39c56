"""Datasets (Gluon names): indexable collections of samples, with lazy or eager transforms."""
from __future__ import annotations

from typing import Callable, Optional

import numpy

from ...errors import ShapeError


class Dataset:
    """Base class: `__getitem__(i)` returns a sample (often a (data, label) tuple), `__len__`."""

    def __getitem__(self, idx):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def transform(self, fn: Callable, lazy: bool = True) -> "Dataset":
        """A dataset of fn(*sample) (fn(sample) for non-tuple samples). lazy=False applies it now."""
        dataset = _TransformedDataset(self, fn)
        return SimpleDataset([dataset[i] for i in range(len(dataset))]) if not lazy else dataset

    def shard(self, num_shards: int, index: int) -> "Dataset":
        """Shard `index` of `num_shards` contiguous shards (the first len % num_shards shards hold
        one more sample), e.g. dataset.shard(kv.num_workers, kv.rank) for data-parallel training."""
        from .sampler import part_range

        return _SubsetDataset(self, part_range(len(self), num_shards, index))

    def transform_first(self, fn: Callable, lazy: bool = True) -> "Dataset":
        """Apply fn to the first element of each sample only (the data, not the label)."""
        def first(*sample):
            return (fn(sample[0]),) + sample[1:] if len(sample) > 1 else fn(sample[0])
        return self.transform(first, lazy)

    def filter(self, fn: Callable) -> "Dataset":
        """The samples for which fn(sample) is true."""
        return _SubsetDataset(self, [i for i in range(len(self)) if fn(self[i])])

    def take(self, count: Optional[int]) -> "Dataset":
        """The first `count` samples (all of them for None)."""
        if count is None or count >= len(self):
            return self
        return _SubsetDataset(self, list(range(max(count, 0))))

    def sample(self, sampler) -> "Dataset":
        """The samples a Sampler picks, in its order."""
        return _SubsetDataset(self, list(sampler))

    def __mx_handle__(self) -> "Dataset":
        """MXNet's C++ dataset handle (for its no-Python DataLoader path); hybrid has one data
        pipeline, so the handle is the dataset itself."""
        return self


class _SubsetDataset(Dataset):
    def __init__(self, base: Dataset, indices):   # a list or a range of positions in base
        self._base, self._indices = base, indices

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx):
        return self._base[self._indices[idx]]


class _TransformedDataset(Dataset):
    def __init__(self, base: Dataset, fn: Callable):
        self._base, self._fn = base, fn

    def __len__(self) -> int:
        return len(self._base)

    def __getitem__(self, idx):
        sample = self._base[idx]
        return self._fn(*sample) if isinstance(sample, tuple) else self._fn(sample)


class SimpleDataset(Dataset):
    """A dataset over any indexable sequence (list, NumPy array)."""

    def __init__(self, data):
        self._data = data

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, idx):
        return self._data[idx]


class ArrayDataset(Dataset):
    """Samples are tuples of the i-th element of each array (arrays of equal length)."""

    def __init__(self, *arrays):
        if not arrays:
            raise ShapeError("ArrayDataset needs at least one array")
        self._arrays = [numpy.asarray(a) if not isinstance(a, (list, Dataset)) else a for a in arrays]
        lengths = [len(a) for a in self._arrays]
        if len(set(lengths)) != 1:
            raise ShapeError(f"ArrayDataset: all arrays must have the same length, got lengths {lengths}")
        self._length = lengths[0]

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, idx):
        if len(self._arrays) == 1:
            return self._arrays[0][idx]
        return tuple(a[idx] for a in self._arrays)
