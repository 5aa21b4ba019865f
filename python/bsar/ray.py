"""Ray Data: write a dataset as .bsar shards in parallel, and read shards back as a Dataset.

    import ray, bsar.ray
    ds.write_datasink(bsar.ray.BsarDatasink("out/"))   # rows {"name", "image"} or {"name", "bytes"}
    ds = bsar.ray.read_bsar("out/manifest.json")        # rows {"name", "image"}

Each write task archives its rows as one shard; ``on_write_complete``, which receives every
task's result, writes the manifest (``spec/shards.md``) once, after every shard is complete.
Reading runs one task per group of chunks, each decoding its chunks whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import ray
from ray.data import Datasink
from ray.data.block import BlockAccessor

from . import Archive, create, open_dataset
from .shards import write_manifest

__all__ = ["BsarDatasink", "read_bsar"]


def _pnm(image: np.ndarray) -> bytes:
    """An image array as a binary PNM file (P5 grey, P6 RGB), which bsar restores byte for byte."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"images must be uint8, not {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"images must be (H, W), (H, W, 1) or (H, W, 3), not {a.shape}")
    magic = b"P5" if a.shape[2] == 1 else b"P6"
    return b"%s\n%d %d\n255\n" % (magic, a.shape[1], a.shape[0]) + np.ascontiguousarray(a).tobytes()


class BsarDatasink(Datasink):
    """Writes each write task's rows as one shard ``{prefix}-{task:05d}.bsar`` in ``out_dir``,
    then the manifest. A row is ``{name_column: str, bytes_column: file bytes}`` (stored as that
    file) or ``{name_column: str, image_column: uint8 array}`` (stored as a PNM image). Names are
    member paths (relative, no ``..``). Options go to ``bsar.create``."""

    def __init__(
        self,
        out_dir: str,
        prefix: str = "shard",
        manifest: str = "manifest.json",
        name_column: str = "name",
        bytes_column: str = "bytes",
        image_column: str = "image",
        **create_options,
    ):
        self.out_dir = os.fspath(out_dir)
        self.prefix = prefix
        self.manifest = manifest
        self.columns = (name_column, bytes_column, image_column)
        self.create_options = create_options

    def on_write_start(self, schema=None) -> None:
        os.makedirs(self.out_dir, exist_ok=True)

    def write(self, blocks: Iterable[Any], ctx) -> Optional[str]:
        name_col, bytes_col, image_col = self.columns
        tmp = tempfile.mkdtemp(prefix=".bsar-task-", dir=self.out_dir)
        try:
            names: List[str] = []
            for block in blocks:
                for row in BlockAccessor.for_block(block).iter_rows(public_row_format=True):
                    name = str(row[name_col])
                    if bytes_col in row and row[bytes_col] is not None:
                        data = bytes(row[bytes_col])
                    else:
                        data = _pnm(row[image_col])
                    path = os.path.join(tmp, name)
                    if not os.path.abspath(path).startswith(os.path.abspath(tmp) + os.sep):
                        raise ValueError(f"member name {name!r} leaves the archive")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                    names.append(name)
            if not names:
                return None
            shard = f"{self.prefix}-{ctx.task_idx:05d}.bsar"
            create(
                os.path.join(self.out_dir, shard),
                sorted(names),
                directory=tmp,
                **self.create_options,
            )
            return shard
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def on_write_complete(self, write_result) -> None:
        shards = sorted(s for s in write_result.write_returns if s)
        write_manifest(
            os.path.join(self.out_dir, self.manifest),
            [os.path.join(self.out_dir, s) for s in shards],
        )


def _decode_group(item: Dict[str, Any]) -> List[Dict[str, Any]]:
    a = Archive(item["path"])
    rows = []
    for items in a.decode_chunks(item["chunks"], item["threads"]):
        for m, v in items:
            if isinstance(v, np.ndarray):
                rows.append({"name": m.name, "image": v})
    return rows


def read_bsar(
    paths: Union[str, Sequence[str]], chunks_per_task: int = 1, threads: int = 1
) -> "ray.data.Dataset":
    """A Dataset of ``{"name", "image"}`` rows for every image of the archives or manifests
    ``paths``, one read task per ``chunks_per_task`` chunks (each decoded whole, on ``threads``
    threads)."""
    items = []
    k = max(1, chunks_per_task)
    for a in open_dataset(paths):
        for start in range(0, a.chunk_count, k):
            chunks = list(range(start, min(start + k, a.chunk_count)))
            items.append({"path": a.path, "chunks": chunks, "threads": threads})
    if not items:
        return ray.data.from_items([])
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    return ds.flat_map(_decode_group)
