"""`gluon.data`: datasets, samplers, the DataLoader, and vision data."""
from . import vision
from .dataloader import DataLoader, default_batchify_fn
from .dataset import ArrayDataset, Dataset, SimpleDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["vision", "DataLoader", "default_batchify_fn", "ArrayDataset", "Dataset", "SimpleDataset",
           "BatchSampler", "RandomSampler", "Sampler", "SequentialSampler"]
