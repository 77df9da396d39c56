"""`gluon.data.vision`: image datasets and transforms."""
from . import transforms
from .datasets import MNIST, Digits, FashionMNIST
from .idx import parse_idx, read_idx

__all__ = ["transforms", "MNIST", "FashionMNIST", "Digits", "read_idx", "parse_idx"]
