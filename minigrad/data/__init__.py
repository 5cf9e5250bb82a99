"""Feeding data to models: datasets, the DataLoader, text vocabularies, sequence batching.

>>> ds = mg.data.TensorDataset(images, labels)
>>> for x, y in mg.data.DataLoader(ds, batch_size=64, shuffle=True):
...     loss = F.cross_entropy(model(x), y)
"""
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split  # noqa: F401
from .loader import DataLoader, default_collate  # noqa: F401
from .sampler import DistributedSampler  # noqa: F401
from .sequence import LMBatches, PadCollate, lm_batches, pad_sequences, sliding_windows  # noqa: F401
from .text import CharVocab, Vocab, basic_tokenize  # noqa: F401

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate",
    "DistributedSampler",
    "pad_sequences", "PadCollate", "lm_batches", "LMBatches", "sliding_windows", "Vocab", "CharVocab",
    "basic_tokenize",
]
