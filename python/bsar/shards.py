"""Sharded datasets: a tree cut into .bsar shards of about a target size, listed by a manifest
(``spec/shards.md``) that ``bsar list``, ``verify`` and ``extract`` accept in place of an archive.

    manifest = bsar.shards.write_shards("out/", ["train/"], target_bytes=512 << 20)
    bsar.open_dataset(manifest)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

from . import _bsar, create

__all__ = ["plan_shards", "write_shards", "write_manifest", "read_manifest"]


def _files(base: str, paths: Sequence[str]) -> List[Tuple[str, int]]:
    """(name, size) of every regular file under ``paths`` (relative to ``base``), in bsar's order:
    each argument as given, directories depth-first, entries by the bytes of their names."""
    out: List[Tuple[str, int]] = []

    def walk(rel: str) -> None:
        full = os.path.join(base, rel)
        if os.path.isdir(full) and not os.path.islink(full):
            names = sorted(os.listdir(full), key=os.fsencode)
            for n in names:
                walk(os.path.join(rel, n) if rel not in ("", ".") else n)
        elif os.path.isfile(full) and not os.path.islink(full):
            out.append((rel, os.path.getsize(full)))

    for p in paths:
        walk(os.fspath(p))
    return out


def plan_shards(
    paths: Sequence[str], target_bytes: int, directory: Optional[str] = None
) -> List[List[str]]:
    """Groups the files under ``paths`` into shards: consecutive files (in bsar's order) share a
    shard until it would pass ``target_bytes`` of input; a larger file gets a shard of its own."""
    base = directory or "."
    shards: List[List[str]] = []
    current: List[str] = []
    size = 0
    for name, n in _files(base, paths):
        if current and size + n > target_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += n
    if current:
        shards.append(current)
    return shards


def write_manifest(path: str, shards: Sequence[str]) -> None:
    """Writes the manifest at ``path`` for finished shard archives (which must lie in its
    directory), checking each one and recording its size, member count and CRC32."""
    _bsar.write_manifest(os.fspath(path), [os.fspath(s) for s in shards])


def read_manifest(path: str, crc: bool = False) -> List[Tuple[str, int, int, str]]:
    """``(shard path, members, bytes, crc32)`` for each shard; sizes are checked, and with
    ``crc`` every shard's CRC32 (a full read). A damaged shard raises ``BsarError`` naming it."""
    return _bsar.read_manifest(os.fspath(path), True, crc)


def write_shards(
    out_dir: str,
    paths: Sequence[str],
    target_bytes: int,
    prefix: str = "shard",
    directory: Optional[str] = None,
    workers: int = 1,
    manifest: str = "manifest.json",
    **create_options,
) -> str:
    """Archives the files under ``paths`` (read relative to ``directory``, as ``create -C``) as
    shards ``{prefix}-00000.bsar``, ... of about ``target_bytes`` of input each, ``workers`` at
    a time, then writes their manifest, and returns its path. Options go to ``bsar.create``."""
    os.makedirs(out_dir, exist_ok=True)
    groups = plan_shards(paths, target_bytes, directory)
    names = [os.path.join(out_dir, f"{prefix}-{i:05d}.bsar") for i in range(len(groups))]

    def one(i: int) -> None:
        create(names[i], groups[i], directory=directory, **create_options)

    # Each create releases the GIL, so threads run shards in parallel.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, range(len(groups))))
    path = os.path.join(out_dir, manifest)
    write_manifest(path, names)
    return path
