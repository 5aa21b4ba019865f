"""bsar from Python: read .bsar archives (and sharded datasets) as bytes and numpy arrays.

Everything is done by the same Rust library as the ``bsar`` command: this module only turns its
results into Python objects. Decoding releases the GIL.

    import bsar
    a = bsar.Archive("cifar.bsar")
    a.names()[:3]
    img = a.image("cifar/00001.png")       # numpy array (H, W, C): uint8, uint16 for 16-bit files
    for name, img in a.iter_images():      # chunk by chunk: the fast order
        ...
    bsar.create("out.bsar", ["imgs/"], chunk_images=128)

``bsar.torch`` has PyTorch datasets, ``bsar.ray`` a Ray Data sink and reader, and
``bsar.shards`` cuts a tree into shards listed by a manifest (``spec/shards.md``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _bsar
from ._bsar import BsarError

__all__ = [
    "Archive",
    "BsarError",
    "Member",
    "create",
    "open_dataset",
    "is_manifest",
]

PathLike = Union[str, "os.PathLike[str]"]


class Member(NamedTuple):
    """One member of an archive, as ``bsar list -l`` shows it."""

    name: str
    kind: str  # "file", "dir" or "symlink"
    size: int  # the file's size as archived (for images kept as pixels: the original file's)
    codec: str  # the codec of its chunk ("" when it has none)
    width: int
    height: int
    channels: int  # 0 when the member is not an image
    chunk: int  # -1 when it has no chunk
    position: int
    content: str  # "bytes" (restored byte for byte) or "pixels"

    @property
    def is_image(self) -> bool:
        return self.kind == "file" and self.channels > 0


def _array(data: bytes, shape: Tuple[int, int, int, int]) -> np.ndarray:
    """Samples as the file holds them: uint8, or uint16 (native order) for a 16-bit PNG or a PNM
    of maxval above 255, whose samples come big-endian."""
    height, width, channels, depth = shape
    if depth == 16:
        return np.frombuffer(data, dtype=">u2").reshape(height, width, channels).astype(np.uint16)
    # A copy into a writable array that owns its memory (numpy's view of ``bytes`` is read-only).
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, channels).copy()


class Archive:
    """An archive, memory-mapped. Opening checks its header, trailer and index (CRCs included);
    a chunk is decoded (and its CRC checked) only when one of its members is read."""

    def __init__(self, path: PathLike):
        self.path = os.fspath(path)
        self._raw = _bsar.RawArchive(self.path)
        self._members: Optional[List[Member]] = None
        self._by_name: Optional[dict] = None

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"bsar.Archive({self.path!r}, {len(self)} members)"

    def members(self) -> List[Member]:
        if self._members is None:
            self._members = [
                Member(os.fsdecode(m[0]), *m[1:]) for m in self._raw.members()
            ]
        return self._members

    def names(self) -> List[str]:
        return [m.name for m in self.members()]

    def _index(self, name: str) -> int:
        if self._by_name is None:
            self._by_name = {m.name: i for i, m in enumerate(self.members())}
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.path}: no member {name!r}") from None

    def member(self, name: str) -> Member:
        return self.members()[self._index(name)]

    def read(self, name: str) -> bytes:
        """The member as ``bsar extract`` would write it."""
        return self._raw.read(self._index(name))

    def image(self, name: str) -> np.ndarray:
        """An image member's pixels (height, width, channels): uint8, or uint16 for a file of
        16-bit samples (a 16-bit PNG, a PNM of maxval above 255)."""
        data, shape = self._raw.image(self._index(name))
        return _array(data, shape)

    @property
    def chunk_count(self) -> int:
        return self._raw.chunk_count()

    def chunk_members(self, chunk: int) -> List[int]:
        """Indices (into ``members()``) of the members of ``chunk``, in the order it holds them."""
        return self._raw.chunk_members(chunk)

    def decode_chunks(self, chunks: Sequence[int], threads: int = 1):
        """Decodes ``chunks`` whole, on up to ``threads`` threads; for each, a list of
        ``(member, array or bytes)``: pixels for image members, bytes for the others."""
        members = self.members()
        out = []
        for items in self._raw.decode_chunks(list(chunks), threads):
            out.append(
                [
                    (members[i], _array(b, shape) if shape is not None else b)
                    for i, b, shape in items
                ]
            )
        return out

    def iter_chunks(self, threads: int = 1, chunks: Optional[Sequence[int]] = None):
        """Yields each chunk's items ``[(name, array or bytes)]``, chunk by chunk (the fast order:
        each chunk is decoded once), ``threads`` chunks decoded at a time."""
        order = list(range(self.chunk_count)) if chunks is None else list(chunks)
        step = max(1, threads)
        for start in range(0, len(order), step):
            for items in self.decode_chunks(order[start : start + step], threads):
                yield [(m.name, v) for m, v in items]

    def iter_images(self, threads: int = 1) -> Iterator[Tuple[str, np.ndarray]]:
        """Yields ``(name, array)`` for every image member, chunk by chunk."""
        for items in self.iter_chunks(threads):
            for name, v in items:
                if isinstance(v, np.ndarray):
                    yield name, v


def is_manifest(path: PathLike) -> bool:
    """Whether ``path`` is a shard manifest (``spec/shards.md``) rather than an archive."""
    return _bsar.is_manifest(os.fspath(path))


def open_dataset(paths: Union[PathLike, Sequence[PathLike]]) -> List[Archive]:
    """Opens one archive, a shard manifest (every shard, sizes checked), or a list of either."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: List[Archive] = []
    for p in paths:
        p = os.fspath(p)
        if is_manifest(p):
            for shard, *_ in _bsar.read_manifest(p, True, False):
                out.append(Archive(shard))
        else:
            out.append(Archive(p))
    return out


# Options of `bsar create`, by keyword: name -> flag. Booleans are switches.
_CREATE_OPTIONS = OrderedDict(
    [
        ("directory", "--directory"),
        ("level", "--level"),
        ("zstd_level", "--zstd-level"),
        ("chunk_size", "--chunk-size"),
        ("chunk_items", "--chunk-items"),
        ("threads", "--threads"),
        ("scheme", "--scheme"),
        ("model", "--model"),
        ("chunk_images", "--chunk-images"),
        ("chunk_pixels", "--chunk-pixels"),
        ("device", "--device"),
        ("overwrite", "--overwrite"),
        ("quiet", "--quiet"),
    ]
)


def create(path: PathLike, paths: Union[PathLike, Sequence[PathLike]], **options) -> None:
    """Creates the archive ``path`` from files and directories, exactly as ``bsar create`` does
    (the same code runs), with its options as keywords: ``directory`` (``-C``), ``level``
    (``"fast"`` or ``"default"``), ``zstd_level``, ``chunk_size``, ``chunk_items``, ``threads``, ``scheme``, ``model``, ``chunk_images``,
    ``chunk_pixels``, ``device``, ``overwrite``; ``quiet`` defaults to True."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    options.setdefault("quiet", True)
    args = ["create"]
    for key, value in options.items():
        flag = _CREATE_OPTIONS.get(key)
        if flag is None:
            raise TypeError(f"create() got an unexpected option {key!r}")
        if isinstance(value, bool):
            if value:
                args.append(flag)
        elif value is not None:
            args += [flag, str(value)]
    args += ["--", os.fspath(path)] + [os.fspath(p) for p in paths]
    _bsar.run(args)
