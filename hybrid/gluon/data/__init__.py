"""`gluon.data`: datasets, samplers, the DataLoader, and vision data."""
from . import batchify, vision
from .dataloader import DataLoader, default_batchify_fn
from .dataset import ArrayDataset, Dataset, SimpleDataset
from .sampler import BatchSampler, FilterSampler, IntervalSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["batchify", "FilterSampler", "IntervalSampler", "vision", "DataLoader", "default_batchify_fn", "ArrayDataset", "Dataset", "SimpleDataset",
           "BatchSampler", "RandomSampler", "Sampler", "SequentialSampler"]
