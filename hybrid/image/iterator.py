"""`hb.image.ImageIter`: MXNet's image data iterator over a RecordIO file (.rec, optionally with
its .idx index), an image list file (.lst) with a root folder, or a Python list of
[label(s)..., path]; images are decoded with Pillow, augmented (CreateAugmenter's list or
`aug_list`) and batched as float32 NCHW with their labels.

    it = hb.image.ImageIter(batch_size=32, data_shape=(3, 224, 224), path_imgrec="train.rec",
                            path_imgidx="train.idx", shuffle=True, rand_crop=True, rand_mirror=True)
    for batch in it:                  # hb.io.DataBatch: data[0] (32, 3, 224, 224), label[0] (32,)
        ...
    it.reset()

MXNet's rules: shuffling and partitioning (`num_parts`/`part_index`: contiguous equal parts,
the remainder dropped) of a .rec file need its .idx; with both a .rec and a list, the list's
labels are used; `last_batch_handle` is 'pad' (the last batch is filled up from the start of the
data and `batch.pad` says how many), 'discard' (dropped) or 'roll_over' (kept and completed at the
start of the next epoch). Shuffling uses Python's global `random` generator, as MXNet's.
"""
from __future__ import annotations

import os
import random as _pyrandom
from typing import Optional, Sequence

import numpy

from ..core.array import NDArray
from ..errors import FormatError, HybridError
from ..gluon.data.vision.recordio import read_keyed_index, read_record, scan_offsets, unpack
from ..io import DataBatch, DataIter
from .functions import CreateAugmenter, imdecode

LABEL_DTYPES = ("int32", "float32", "int64", "float64")
LAST_BATCH = ("pad", "discard", "roll_over")


class _RecordFile:
    """Random access to the records of a .rec file by key (from its .idx, or 0.. in file order)."""

    def __init__(self, path: str, index_path: Optional[str]):
        self.path = path
        self.offsets = read_keyed_index(index_path) if index_path else dict(enumerate(scan_offsets(path)))
        self._file = open(path, "rb")

    @property
    def keys(self) -> list:
        return list(self.offsets)

    def read(self, key) -> tuple[numpy.ndarray, bytes]:
        if key not in self.offsets:
            raise FormatError(f"{self.path}: no record with key {key!r} (the .lst and .idx disagree?)")
        return unpack(read_record(self._file, self.offsets[key], self.path))

    def close(self) -> None:
        self._file.close()


def _read_list_file(path: str, dtype: str) -> tuple[dict, list]:
    """An .lst file: "index<TAB>label(s)...<TAB>relative path" per line."""
    entries, keys = {}, []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                raise FormatError(f"{path}:{number}: expected 'index<TAB>label...<TAB>path', got {line!r}")
            try:
                key, label = int(fields[0]), numpy.array([float(v) for v in fields[1:-1]], dtype)
            except ValueError:
                raise FormatError(f"{path}:{number}: the index and labels must be numbers, got {line!r}") from None
            entries[key] = (label, fields[-1])
            keys.append(key)
    return entries, keys


def _read_python_list(imglist: list, dtype: str) -> tuple[dict, list]:
    """[[label, path], [label1, label2, ..., path], [[labels], path], ...], keyed "1", "2", ... as MXNet."""
    entries, keys = {}, []
    for number, item in enumerate(imglist, 1):
        if not isinstance(item, (list, tuple)) or len(item) < 2:
            raise HybridError(f"ImageIter: imglist item {number} must be [label(s)..., path], got {item!r}")
        label = item[:-1] if len(item) > 2 else item[0]
        entries[str(number)] = (numpy.array(label, dtype).reshape(-1), item[-1])
        keys.append(str(number))
    return entries, keys


class ImageIter(DataIter):
    """Batches of augmented images and labels from a .rec file, an .lst file or a Python list (see
    the module doc); extra keyword arguments go to CreateAugmenter (resize, rand_crop, rand_resize,
    rand_mirror, mean, std, brightness, contrast, saturation, hue, pca_noise, rand_gray, inter_method)."""

    def __init__(self, batch_size: int, data_shape: Sequence[int], label_width: int = 1,
                 path_imgrec: Optional[str] = None, path_imglist: Optional[str] = None,
                 path_root: Optional[str] = None, path_imgidx: Optional[str] = None, shuffle: bool = False,
                 part_index: int = 0, num_parts: int = 1, aug_list: Optional[list] = None,
                 imglist: Optional[list] = None, data_name: str = "data", label_name: str = "softmax_label",
                 dtype: str = "float32", last_batch_handle: str = "pad", **kwargs):
        super().__init__(batch_size)
        if not (path_imgrec or path_imglist or isinstance(imglist, list)):
            raise HybridError("ImageIter: give path_imgrec (a .rec file), path_imglist (an .lst file) or imglist "
                              "(a list of [label, path])")
        if dtype not in LABEL_DTYPES:
            raise HybridError(f"ImageIter: label dtype must be one of {LABEL_DTYPES}, got {dtype!r}")
        if last_batch_handle not in LAST_BATCH:
            raise HybridError(f"ImageIter: last_batch_handle must be one of {LAST_BATCH}, got {last_batch_handle!r}")
        self.check_data_shape(data_shape)
        if batch_size < 1:
            raise HybridError(f"ImageIter: batch_size must be positive, got {batch_size}")
        self.data_shape, self.label_width, self.dtype = tuple(data_shape), label_width, dtype
        self.shuffle, self.last_batch_handle = shuffle, last_batch_handle
        self.path_root = path_root or ""
        self.imgrec = _RecordFile(path_imgrec, path_imgidx) if path_imgrec else None
        if path_imglist:
            self.imglist, keys = _read_list_file(path_imglist, dtype)
        elif isinstance(imglist, list):
            self.imglist, keys = _read_python_list(imglist, dtype)
        else:
            self.imglist, keys = None, None
        if self.imgrec is not None and self.imglist is None:
            if (shuffle or num_parts > 1) and not path_imgidx:
                raise HybridError("ImageIter: shuffling or partitioning a .rec file needs its index: give "
                                  "path_imgidx (the .idx written with it by im2rec)")
            keys = self.imgrec.keys
        if not 0 <= part_index < num_parts:
            raise HybridError(f"ImageIter: part_index must be in [0, num_parts={num_parts}), got {part_index}")
        if num_parts > 1:
            per_part = len(keys) // num_parts
            keys = keys[part_index * per_part:(part_index + 1) * per_part]
        self.seq = list(keys)
        if not self.seq:
            raise HybridError("ImageIter: the data source holds no images")
        self.auglist = CreateAugmenter(data_shape, **kwargs) if aug_list is None else list(aug_list)
        self.provide_data = [(data_name, (batch_size,) + self.data_shape)]
        self.provide_label = [(label_name, (batch_size, label_width) if label_width > 1 else (batch_size,))]
        self.cur = 0
        self._allow_read = True
        self._cache: Optional[tuple[numpy.ndarray, numpy.ndarray, int]] = None
        self.reset()

    @property
    def num_image(self) -> int:
        return len(self.seq)

    # -- epochs ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start the next epoch (reshuffled when shuffle=True); a rolled-over partial batch is kept."""
        if self.shuffle:
            _pyrandom.shuffle(self.seq)
        if self.last_batch_handle != "roll_over" or self._cache is None:
            self.cur = 0
            self._allow_read = True

    def hard_reset(self) -> None:
        """Start the next epoch, dropping any rolled-over samples."""
        if self.shuffle:
            _pyrandom.shuffle(self.seq)
        self.cur = 0
        self._allow_read = True
        self._cache = None

    # -- samples --------------------------------------------------------------------------------
    def next_sample(self) -> tuple[numpy.ndarray, bytes]:
        """(label, encoded image bytes) of the next image; StopIteration at the end of the epoch."""
        if not self._allow_read:
            raise StopIteration
        if self.cur >= self.num_image:
            if self.last_batch_handle != "discard":
                self.cur = 0          # 'pad' fills up from the start; roll_over continues there
            raise StopIteration
        key = self.seq[self.cur]
        self.cur += 1
        if self.imgrec is not None:
            label, data = self.imgrec.read(key)
            return (label if self.imglist is None else self.imglist[key][0]), data
        label, fname = self.imglist[key]
        return label, self.read_image(fname)

    def read_image(self, fname: str) -> bytes:
        with open(os.path.join(self.path_root, fname), "rb") as f:
            return f.read()

    def imdecode(self, data: bytes) -> NDArray:
        try:
            return imdecode(data)
        except (ValueError, OSError) as e:
            key = self.seq[(self.cur - 1) % self.num_image]
            where = f"file {self.imglist[key][1]}" if self.imglist is not None else f"record {key}"
            raise RuntimeError(f"ImageIter: broken image ({where}): {e}") from None

    def augmentation_transform(self, data):
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum) -> numpy.ndarray:
        """HWC -> CHW, checked against data_shape."""
        a = datum.asnumpy() if isinstance(datum, NDArray) else numpy.asarray(datum)
        c, h, w = self.data_shape
        if a.shape != (h, w, c):
            raise HybridError(f"ImageIter: the augmenters produced an image of shape {a.shape} (HWC), but "
                              f"data_shape {self.data_shape} needs ({h}, {w}, {c}); add a crop/resize augmenter "
                              "(CreateAugmenter does) or fix data_shape")
        return a.transpose(2, 0, 1)

    def _fill(self, data: numpy.ndarray, label: numpy.ndarray, start: int) -> int:
        """Fill batch rows from `start` on; the number of rows filled when the epoch ended first."""
        i = start
        try:
            while i < self.batch_size:
                raw_label, encoded = self.next_sample()
                data[i] = self.postprocess_data(self.augmentation_transform(self.imdecode(encoded)))
                raw_label = numpy.asarray(raw_label, self.dtype).reshape(-1)
                if raw_label.size < self.label_width:
                    raise HybridError(f"ImageIter: label_width is {self.label_width} but an image has "
                                      f"{raw_label.size} label(s)")
                label[i] = raw_label[0] if self.label_width == 1 else raw_label[:self.label_width]
                i += 1
        except StopIteration:
            if i == 0 and start == 0:
                raise
        return i

    def next(self) -> DataBatch:
        if self._cache is not None:            # the rolled-over rows of the last epoch come first
            data, label, filled = self._cache
        else:
            data = numpy.zeros((self.batch_size,) + self.data_shape, numpy.float32)
            label = numpy.zeros(self.provide_label[0][1], self.dtype)
            filled = self._fill(data, label, 0)
        pad = self.batch_size - filled
        if pad:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache is None:
                self._cache = (data, label, filled)
                raise StopIteration
            filled = self._fill(data, label, filled)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache = None
            pad = self.batch_size - filled if self.last_batch_handle == "roll_over" else pad
        return DataBatch([NDArray(data)], [NDArray(label)], pad=pad)

    # -- checks ----------------------------------------------------------------------------------
    @staticmethod
    def check_data_shape(data_shape: Sequence[int]) -> None:
        if len(data_shape) != 3:
            raise ValueError(f"ImageIter: data_shape must be (channels, height, width), got {tuple(data_shape)}")
        if data_shape[0] != 3:
            raise ValueError(f"ImageIter: images are decoded as RGB, so data_shape needs 3 channels, got "
                             f"{data_shape[0]}")


__all__ = ["ImageIter"]
