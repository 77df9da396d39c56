"""`gluon.data.vision`: image datasets and transforms."""
from . import transforms
from .datasets import CIFAR10, CIFAR100, MNIST, Digits, FashionMNIST, ImageFolderDataset, ImageRecordDataset
from .idx import parse_idx, read_idx

__all__ = ["transforms", "CIFAR10", "CIFAR100", "ImageFolderDataset", "ImageRecordDataset", "MNIST", "FashionMNIST", "Digits", "read_idx", "parse_idx"]
