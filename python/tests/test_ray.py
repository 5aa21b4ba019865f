import numpy as np
import pytest

ray = pytest.importorskip("ray")

import bsar
import bsar.ray
import bsar.shards
from conftest import photo_like


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_write_four_shards_and_read_them_back(local_ray, tmp_path):
    rows = [
        {"name": f"img/{i:04d}.ppm", "image": photo_like(8 + i % 5, 8, 3 if i % 4 else 1, i)}
        for i in range(1000)
    ]
    ds = ray.data.from_items(rows).repartition(4)
    out = str(tmp_path / "shards")
    ds.write_datasink(bsar.ray.BsarDatasink(out, chunk_images=64))
    shards = bsar.shards.read_manifest(out + "/manifest.json", crc=True)
    assert len(shards) == 4
    assert sum(s[1] for s in shards) == 1000
    back = bsar.ray.read_bsar(out + "/manifest.json", chunks_per_task=2).take_all()
    assert len(back) == 1000
    want = {r["name"]: r["image"] for r in rows}
    for r in back:
        w = want[r["name"]]
        np.testing.assert_array_equal(r["image"], w if w.ndim == 3 else w[:, :, None])
