import os
import subprocess

import numpy as np
import pytest

import bsar
from conftest import photo_like, pillow_array, write_tree


def make(tmp_path, names, **options):
    path = str(tmp_path / "a.bsar")
    bsar.create(path, ["imgs"], directory=str(tmp_path), **options)
    return bsar.Archive(path)


def test_read_and_image_equal_the_files_and_pillow(tree):
    root, names = tree
    a = make(root, names)
    assert len(a) == len(names) + 3  # imgs, imgs/grey, labels.csv
    for name in names:
        path = os.path.join(root, name)
        want = pillow_array(path)
        got = a.image(name)
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        m = a.member(name)
        assert m.size == os.path.getsize(path), name
        data = a.read(name)
        if name.endswith(".ppm") or m.content == "bytes":
            assert data == open(path, "rb").read(), name  # byte for byte
        else:
            # A PNG kept as pixels comes back pixel for pixel.
            import io
            from PIL import Image

            np.testing.assert_array_equal(pillow_array(io.BytesIO(data)), want)
    assert a.read("imgs/labels.csv") == open(root / "imgs/labels.csv", "rb").read()
    with pytest.raises(KeyError):
        a.read("nope")
    with pytest.raises(bsar.BsarError, match="not an image"):
        a.image("imgs/labels.csv")


def test_palette_and_one_bit_images_give_the_files_samples(tmp_path):
    from PIL import Image

    os.makedirs(tmp_path / "imgs")
    photo = Image.fromarray(photo_like(40, 48, 3, 7), "RGB")
    names = ["imgs/p16.png", "imgs/p256.png", "imgs/mask.png"]
    photo.quantize(16).save(tmp_path / names[0])
    photo.quantize(256, dither=Image.Dither.NONE).save(tmp_path / names[1])
    photo.convert("L").convert("1").save(tmp_path / names[2])
    a = make(tmp_path, names)
    for name in names:
        path = tmp_path / name
        want = pillow_array(path).astype(np.uint8)  # palette indices; 0 and 1 for 1-bit
        np.testing.assert_array_equal(a.image(name), want)
        assert a.read(name) == open(path, "rb").read(), name
    # Chunk by chunk too, as the data loaders read.
    seen = {name: img for name, img in a.iter_images()}
    for name in names:
        np.testing.assert_array_equal(seen[name], pillow_array(tmp_path / name).astype(np.uint8))


def test_iter_images_gives_every_image_once_in_chunk_order(tree):
    root, names = tree
    a = make(root, names, chunk_images=5)
    assert a.chunk_count >= 5
    for threads in (1, 3):
        seen = []
        for name, img in a.iter_images(threads=threads):
            np.testing.assert_array_equal(img, pillow_array(os.path.join(root, name)))
            seen.append(name)
        assert sorted(seen) == sorted(names)
        chunks = [a.member(n).chunk for n in seen]
        assert chunks == sorted(chunks), "chunk by chunk"


def test_create_options_and_errors(tree, tmp_path):
    root, names = tree
    path = str(tmp_path / "z.bsar")
    bsar.create(path, ["imgs"], directory=str(root), scheme="zstd", zstd_level=3)
    assert {m.codec for m in bsar.Archive(path).members() if m.kind == "file"} == {"zstd"}
    with pytest.raises(bsar.BsarError, match="already exists"):
        bsar.create(path, ["imgs"], directory=str(root))
    with pytest.raises(bsar.BsarError):
        bsar.create(str(tmp_path / "y.bsar"), ["missing"], directory=str(root))
    with pytest.raises(TypeError):
        bsar.create(str(tmp_path / "y.bsar"), ["imgs"], colour="blue")
    with pytest.raises(bsar.BsarError, match="not a bsar archive"):
        bsar.Archive(str(root / "imgs/labels.csv"))


def test_a_damaged_chunk_raises_naming_it(tree):
    root, names = tree
    a = make(root, names, chunk_images=8)
    last = a.chunk_count - 1
    entry = a.chunk_members(last)
    del a
    data = bytearray(open(root / "a.bsar", "rb").read())
    # Damage the middle of the archive's first chunk (chunks start right after the 16-byte header).
    data[40] ^= 0x10
    open(root / "a.bsar", "wb").write(bytes(data))
    a = bsar.Archive(str(root / "a.bsar"))
    with pytest.raises(bsar.BsarError, match=r"chunk 0 .*damaged"):
        list(a.iter_images())
    # Other chunks still read.
    assert len(a.decode_chunks([last])[0]) == len(entry)


def test_shards_and_the_cli_on_a_manifest(tmp_path):
    names = write_tree(tmp_path, 30)
    manifest = bsar.shards.write_shards(
        str(tmp_path / "out"), ["imgs"], target_bytes=15_000, directory=str(tmp_path), workers=2
    )
    shards = bsar.shards.read_manifest(manifest, crc=True)
    assert len(shards) >= 3
    total = sum(len(a) for a in bsar.open_dataset(manifest))
    assert total == sum(s[1] for s in shards)
    seen = sorted(n for a in bsar.open_dataset(manifest) for n, _ in a.iter_images())
    assert seen == sorted(names)
    # The command line takes the manifest in place of an archive.
    bsar._bsar.run(["verify", "-q", manifest])
    out = tmp_path / "x"
    bsar._bsar.run(["extract", "-q", manifest, "-C", str(out)])
    for n in names:
        assert open(out / n, "rb").read() != b""
    # A damaged shard is named.
    victim = shards[1][0]
    data = bytearray(open(victim, "rb").read())
    data[len(data) // 2] ^= 1
    open(victim, "wb").write(bytes(data))
    with pytest.raises(bsar.BsarError, match=os.path.basename(victim) + ".*damaged"):
        bsar.shards.read_manifest(manifest, crc=True)
    with pytest.raises(bsar.BsarError, match="1 of .* shards are damaged"):
        bsar._bsar.run(["verify", "-q", manifest])


import bsar.shards  # noqa: E402  (after the tests that use it, to show it is a submodule)


def test_sixteen_bit_images_give_uint16_samples(tmp_path):
    from PIL import Image

    os.makedirs(tmp_path / "imgs")
    rng = np.random.default_rng(3)
    grey = (np.mgrid[0:30, 0:40][1] * 1500 + rng.integers(0, 300, (30, 40))).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "imgs/grey16.png")  # Pillow writes mode I;16 as 16-bit
    rgb = np.dstack([grey, grey // 2, 65535 - grey]).astype(np.uint16)
    with open(tmp_path / "imgs/rgb16.ppm", "wb") as f:
        f.write(b"P6\n40 30\n65535\n" + rgb.astype(">u2").tobytes())
    a = make(tmp_path, ["imgs/grey16.png", "imgs/rgb16.ppm"])
    for name, want in [("imgs/grey16.png", grey[:, :, None]), ("imgs/rgb16.ppm", rgb)]:
        m = a.member(name)
        assert (m.content, m.codec) == ("pixels", "deep"), m
        got = a.image(name)
        assert got.dtype == np.uint16 and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
        assert a.read(name) == open(tmp_path / name, "rb").read(), name
    seen = {name: img for name, img in a.iter_images()}
    np.testing.assert_array_equal(seen["imgs/rgb16.ppm"], rgb)
