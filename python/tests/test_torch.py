import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import bsar
import bsar.shards
import bsar.torch
from conftest import pillow_array, write_tree


@pytest.fixture
def three_shards(tmp_path):
    names = write_tree(tmp_path, 60, size=(16, 16))
    manifest = bsar.shards.write_shards(
        str(tmp_path / "out"),
        ["imgs"],
        target_bytes=12_000,
        directory=str(tmp_path),
        chunk_images=4,
    )
    shards = bsar.shards.read_manifest(manifest)
    assert len(shards) == 3, shards
    return tmp_path, names, manifest


def epoch(ds, workers, e):
    ds.set_epoch(e)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    return [name for name, img in loader]


def test_every_image_once_per_epoch_and_order_by_seed(three_shards):
    root, names, manifest = three_shards
    for seed in (1, 2):
        ds = bsar.torch.BsarIterableDataset(manifest, shuffle=True, seed=seed, buffer_size=8)
        orders = [epoch(ds, 2, e) for e in (0, 1)]
        for o in orders:
            assert sorted(o) == sorted(names), "every image exactly once"
        assert orders[0] != orders[1], "a new order each epoch"
        if seed == 1:
            first = orders[0]
    assert first != orders[0], "another seed, another order"
    # Without shuffling: chunk order, the same every time, split over the workers.
    ds = bsar.torch.BsarIterableDataset(manifest)
    assert sorted(epoch(ds, 2, 0)) == sorted(names)
    assert epoch(ds, 0, 0) == epoch(ds, 0, 1)


def test_ranks_split_the_work(three_shards, monkeypatch):
    root, names, manifest = three_shards
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        ds = bsar.torch.BsarIterableDataset(manifest, shuffle=True, seed=3)
        seen.append(epoch(ds, 2, 0))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(names)


def test_map_style_dataset(three_shards):
    root, names, manifest = three_shards
    ds = bsar.torch.BsarDataset(manifest, cache_chunks=2)
    assert len(ds) == len(names)
    for i in np.random.default_rng(0).permutation(len(ds))[:20]:
        name, img = ds[int(i)]
        assert isinstance(img, torch.Tensor)
        np.testing.assert_array_equal(img.numpy(), pillow_array(os.path.join(root, name)))
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, shuffle=True)
    assert sorted(n for n, _ in loader) == sorted(names)
