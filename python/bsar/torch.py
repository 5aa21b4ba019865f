"""PyTorch datasets over bsar archives and sharded datasets (imported only when torch is present).

- :class:`BsarIterableDataset`: the fast way to train. Chunks are split among DataLoader workers
  and distributed ranks, each decoded once, whole; a shuffle buffer over decoded images and a
  per-epoch chunk order (``seed``, :meth:`set_epoch`) shuffle without random access. Every epoch
  yields every image exactly once across all workers and ranks.
- :class:`BsarDataset`: map-style, for random access, with an LRU cache of decoded chunks.

Samples are ``(name, image)`` with ``image`` a uint8 tensor (H, W, C) (uint16 for 16-bit files), or whatever ``transform``
makes of the numpy array.
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from . import Archive, open_dataset

__all__ = ["BsarIterableDataset", "BsarDataset"]


def _rank_and_world() -> Tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _default_transform(image: np.ndarray):
    return torch.from_numpy(image)


class _Archives:
    """Archive paths, opened lazily in each process (an open archive is a memory map, which is not
    sent to DataLoader workers; each worker maps the files itself)."""

    def __init__(self, paths):
        self.archives: List[Archive] = open_dataset(paths)
        self.paths = [a.path for a in self.archives]

    def __getstate__(self):
        return {"paths": self.paths}

    def __setstate__(self, state):
        self.paths = state["paths"]
        self.archives = []

    def get(self, i: int) -> Archive:
        if not self.archives:
            self.archives = [Archive(p) for p in self.paths]
        return self.archives[i]


class BsarIterableDataset(IterableDataset):
    """Images of one or more archives (or shard manifests), chunk by chunk.

    The work is split by chunk: chunk ``k`` of the dataset (counting chunks that hold images, in
    dataset order, after the epoch's shuffle) goes to worker ``k % (world * workers)``, so every
    image is seen exactly once per epoch across all ranks and workers. With ``shuffle``, the chunk
    order changes every epoch (``seed`` and :meth:`set_epoch`) and decoded images pass through a
    buffer of ``buffer_size`` from which they leave in random order."""

    def __init__(
        self,
        paths: Union[str, Sequence[str]],
        shuffle: bool = False,
        seed: int = 0,
        buffer_size: int = 1024,
        transform: Optional[Callable[[np.ndarray], object]] = None,
        threads: int = 1,
    ):
        super().__init__()
        self._archives = _Archives(paths)
        self.units: List[Tuple[int, int]] = []
        for ai, a in enumerate(self._archives.archives):
            members = a.members()
            for ci in range(a.chunk_count):
                if any(members[m].is_image for m in a.chunk_members(ci)):
                    self.units.append((ai, ci))
        self.shuffle = shuffle
        self.seed = seed
        self.buffer_size = max(1, buffer_size)
        self.transform = transform or _default_transform
        self.threads = threads
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch, which (with ``seed``) picks the shuffle; call it before each epoch."""
        self.epoch = epoch

    def _my_units(self) -> List[Tuple[int, int]]:
        units = list(self.units)
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + self.epoch).shuffle(units)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = _rank_and_world()
        return units[rank * workers + worker :: world * workers]

    def __iter__(self):
        units = self._my_units()
        info = get_worker_info()
        wid = info.id if info is not None else 0
        rng = random.Random((self.seed * 1_000_003 + self.epoch) * 7919 + wid)
        buffer = []
        step = max(1, self.threads)
        for start in range(0, len(units), step):
            batch = units[start : start + step]
            # Consecutive units of one archive are decoded together, on `threads` threads.
            for ai in dict.fromkeys(u[0] for u in batch):
                chunks = [ci for a, ci in batch if a == ai]
                for items in self._archives.get(ai).decode_chunks(chunks, self.threads):
                    for m, v in items:
                        if not isinstance(v, np.ndarray):
                            continue
                        sample = (m.name, self.transform(v))
                        if not self.shuffle:
                            yield sample
                        elif len(buffer) < self.buffer_size:
                            buffer.append(sample)
                        else:
                            j = rng.randrange(len(buffer))
                            yield buffer[j]
                            buffer[j] = sample
        rng.shuffle(buffer)
        yield from buffer


class BsarDataset(Dataset):
    """Images of one or more archives (or shard manifests) by index, in dataset order.

    Cost of random access: a chunk is one coded stream, and reading image ``k`` of a chunk
    decodes images ``0..k`` of it. On a cache miss this dataset decodes the whole chunk (every
    image in it, ``--chunk-images``: 512 by default, or fewer where
    ``--chunk-pixels`` bounds the chunk first) and keeps the ``cache_chunks`` most recently
    used decoded chunks, so a random order costs up to one chunk's decoding per image, and chunk
    order (``shuffle=False`` in the DataLoader) about one image's. For training in random order,
    :class:`BsarIterableDataset` shuffles without paying this."""

    def __init__(
        self,
        paths: Union[str, Sequence[str]],
        cache_chunks: int = 4,
        transform: Optional[Callable[[np.ndarray], object]] = None,
    ):
        self._archives = _Archives(paths)
        self.index: List[Tuple[int, int]] = []
        for ai, a in enumerate(self._archives.archives):
            self.index += [(ai, mi) for mi, m in enumerate(a.members()) if m.is_image]
        self.cache_chunks = max(1, cache_chunks)
        self.transform = transform or _default_transform
        self._cache: "OrderedDict[Tuple[int, int], dict]" = OrderedDict()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        ai, mi = self.index[i]
        a = self._archives.get(ai)
        m = a.members()[mi]
        key = (ai, m.chunk)
        chunk = self._cache.get(key)
        if chunk is None:
            (items,) = a.decode_chunks([m.chunk])
            chunk = {it[0].name: it[1] for it in items}
            self._cache[key] = chunk
            while len(self._cache) > self.cache_chunks:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return m.name, self.transform(chunk[m.name])
