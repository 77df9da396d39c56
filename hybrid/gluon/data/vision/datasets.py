"""Vision datasets: MNIST and Fashion-MNIST from their IDX files, and scikit-learn's bundled
8x8 digits (offline). Samples are (HWC uint8 image, int32 label); `transform(image, label)`
is applied per sample when given (Gluon's convention)."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from typing import Callable, Optional

import numpy

from ....core.array import NDArray
from ....errors import FormatError, HybridError
from ..dataset import Dataset
from .idx import read_idx
from .transforms import Resize


class _ImageDataset(Dataset):
    """Holds images (N, H, W, C) uint8 and labels (N,) int32."""

    def __init__(self, images: numpy.ndarray, labels: numpy.ndarray, transform: Optional[Callable]):
        if len(images) != len(labels):
            raise FormatError(f"{type(self).__name__}: {len(images)} images but {len(labels)} labels")
        self._images, self._labels, self._transform = images, labels.astype(numpy.int32), transform

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, idx):
        # hybrid arrays, as MXNet's datasets serve in its NumPy mode (hybrid's only mode): the d2l book calls
        # .asnumpy() on `images, labels = mnist_train[:]`; copies, so writing into a sample leaves the dataset alone
        image, label = NDArray(numpy.array(self._images[idx])), NDArray(numpy.array(self._labels[idx]))
        return self._transform(image, label) if self._transform is not None else (image, label)

    @property
    def images(self) -> numpy.ndarray:
        """All images, (N, H, W, C) uint8: for whole-dataset preprocessing."""
        return self._images

    @property
    def labels(self) -> numpy.ndarray:
        return self._labels


class MNIST(_ImageDataset):
    """MNIST handwritten digits, 28x28x1. Reads train-/t10k-{images-idx3,labels-idx1}-ubyte[.gz]
    from `root`; missing files are downloaded (MD5-checked) when `download` and a network allow."""

    base_url = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    folder = "mnist"
    md5 = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
           "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
           "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
           "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}

    def __init__(self, root: Optional[str] = None, train: bool = True, transform: Optional[Callable] = None,
                 download: bool = True):
        self.root = os.path.expanduser(root or os.path.join("~", ".hybrid", "datasets", self.folder))
        prefix = "train" if train else "t10k"
        images = read_idx(self._locate(f"{prefix}-images-idx3-ubyte", download))
        labels = read_idx(self._locate(f"{prefix}-labels-idx1-ubyte", download))
        if images.ndim != 3 or labels.ndim != 1:
            raise FormatError(f"{type(self).__name__}: expected (N, H, W) images and (N,) labels in {self.root}, "
                              f"got {images.shape} and {labels.shape}")
        super().__init__(images[..., None].astype(numpy.uint8), labels, transform)

    def _locate(self, name: str, download: bool) -> str:
        for candidate in (name, name + ".gz"):
            path = os.path.join(self.root, candidate)
            if os.path.exists(path):
                return path
        if not download:
            raise FormatError(f"{type(self).__name__}: neither {name} nor {name}.gz is in {self.root}; put the "
                              f"IDX files there or pass download=True")
        return self._download(name + ".gz")

    def _download(self, filename: str) -> str:
        url, path = self.base_url + filename, os.path.join(self.root, filename)
        os.makedirs(self.root, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                raw = response.read()
        except (urllib.error.URLError, OSError) as e:
            raise HybridError(f"{type(self).__name__}: could not download {url} ({e}); without a network, copy "
                              f"{filename} into {self.root}") from None
        digest = hashlib.md5(raw).hexdigest()
        if digest != self.md5[filename]:
            raise FormatError(f"{type(self).__name__}: {url} has MD5 {digest}, expected {self.md5[filename]}")
        with open(path + ".part", "wb") as f:
            f.write(raw)
        os.replace(path + ".part", path)
        return path


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (same format and file names as MNIST)."""

    base_url = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    folder = "fashion-mnist"
    md5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
           "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
           "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
           "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}


class Digits(_ImageDataset):
    """scikit-learn's handwritten digits (1797 real 8x8 scans, 10 classes), installed with
    scikit-learn, so no download. Pixel values 0..16 are scaled to 0..255 (uint8, HWC) so the
    usual ToTensor applies; `size` resizes (bilinear) e.g. to 28 for MNIST-sized models. The
    train/test split is stratified by class and fixed by `seed`."""

    def __init__(self, train: bool = True, transform: Optional[Callable] = None, size: int = 8,
                 test_fraction: float = 0.2, seed: int = 0):
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise HybridError("Digits needs scikit-learn: pip install 'hybrid[examples]' (or scikit-learn)") from None
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        bunch = load_digits()
        images = numpy.rint(bunch.images * (255.0 / 16.0)).astype(numpy.uint8)[..., None]
        labels = bunch.target
        pick = self._split(labels, test_fraction, seed)[0 if train else 1]
        images = images[pick]
        if size != images.shape[1]:
            images = Resize(size)(images)
        super().__init__(images, labels[pick], transform)

    @staticmethod
    def _split(labels: numpy.ndarray, test_fraction: float, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
        rng = numpy.random.default_rng(seed)
        train, test = [], []
        for c in numpy.unique(labels):
            members = rng.permutation(numpy.flatnonzero(labels == c))
            n_test = int(round(len(members) * test_fraction))
            test.append(members[:n_test])
            train.append(members[n_test:])
        return numpy.sort(numpy.concatenate(train)), numpy.sort(numpy.concatenate(test))


class _CIFAR(_ImageDataset):
    """CIFAR from the binary distribution in `root` (never downloaded here): records of label
    byte(s) then 3072 bytes of 32x32 R, G, B planes."""

    label_bytes, label_index = 1, 0

    def __init__(self, root: str, train: bool, transform: Optional[Callable]):
        root = os.path.expanduser(root)
        images, labels = [], []
        for name in (self.train_files if train else self.test_files):
            path = os.path.join(root, name)
            if not os.path.exists(path):
                raise FormatError(f"{type(self).__name__}: {path} is missing; put the binary version of the dataset "
                                  f"({', '.join(self.train_files + self.test_files)}) in {root}")
            raw = numpy.fromfile(path, numpy.uint8)
            width = self.label_bytes + 3072
            if raw.size % width:
                raise FormatError(f"{path}: {raw.size} bytes is not a whole number of {width}-byte records")
            records = raw.reshape(-1, width)
            labels.append(records[:, self.label_index].astype(numpy.int32))
            images.append(records[:, self.label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        super().__init__(numpy.concatenate(images), numpy.concatenate(labels), transform)


class CIFAR10(_CIFAR):
    train_files = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_files = ["test_batch.bin"]

    def __init__(self, root: str = "~/.hybrid/datasets/cifar10/cifar-10-batches-bin", train: bool = True,
                 transform: Optional[Callable] = None):
        super().__init__(root, train, transform)


class CIFAR100(_CIFAR):
    """fine_label=True gives the 100 fine classes (the second label byte), else the 20 coarse ones."""

    train_files, test_files, label_bytes = ["train.bin"], ["test.bin"], 2

    def __init__(self, root: str = "~/.hybrid/datasets/cifar100/cifar-100-binary", fine_label: bool = False,
                 train: bool = True, transform: Optional[Callable] = None):
        self.label_index = 1 if fine_label else 0
        super().__init__(root, train, transform)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm")


class ImageFolderDataset(Dataset):
    """root/<class>/<image>: one class per folder (sorted names; `synsets` lists them); images are
    decoded on access (flag=1: RGB, 0: grayscale)."""

    def __init__(self, root: str, flag: int = 1, transform: Optional[Callable] = None):
        root = os.path.expanduser(root)
        if not os.path.isdir(root):
            raise FormatError(f"ImageFolderDataset: {root} is not a folder")
        self._flag, self._transform = flag, transform
        self.synsets = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.items = [(os.path.join(root, d, name), label) for label, d in enumerate(self.synsets)
                      for name in sorted(os.listdir(os.path.join(root, d)))
                      if name.lower().endswith(IMAGE_EXTENSIONS)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx):
        from .decode import decode
        path, label = self.items[idx]
        with open(path, "rb") as f:
            image = decode(f.read(), self._flag)
        return self._transform(image, label) if self._transform is not None else (image, label)


class ImageRecordDataset(Dataset):
    """Images and labels from an MXNet RecordIO file (`filename`.rec with its .idx next to it)."""

    def __init__(self, filename: str, flag: int = 1, transform: Optional[Callable] = None):
        from .recordio import read_index
        self._rec = filename
        index = os.path.splitext(filename)[0] + ".idx"
        if not os.path.exists(filename) or not os.path.exists(index):
            raise FormatError(f"ImageRecordDataset: needs {filename} and its index {index}")
        self._offsets = read_index(index)
        self._flag, self._transform = flag, transform

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, idx):
        from .decode import decode
        from .recordio import read_record, unpack
        with open(self._rec, "rb") as f:
            labels, data = unpack(read_record(f, self._offsets[idx], self._rec))
        image = decode(data, self._flag)
        label = labels[0] if labels.size == 1 else labels
        return self._transform(image, label) if self._transform is not None else (image, label)
