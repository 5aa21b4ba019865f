"""Fixtures: small image trees made here with Pillow (a user's machine has no ../shared)."""

import os

import numpy as np
import pytest
from PIL import Image


def photo_like(h, w, c, seed):
    """A gradient with a little noise, as photographs are: the image codec takes it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 40 + x * 120 // max(w, 1) + y * 60 // max(h, 1)
    img = base[:, :, None] + 20 * np.arange(c)[None, None, :] + rng.integers(0, 7, (h, w, c))
    return img.clip(0, 255).astype(np.uint8)


def write_tree(root, n, size=(32, 32), seed=0):
    """``n`` images under ``root/imgs`` (PNG RGB and grey, PPM), a text file and labels; returns
    the relative names of the images."""
    os.makedirs(os.path.join(root, "imgs", "grey"), exist_ok=True)
    names = []
    for i in range(n):
        h, w = size
        if i % 5 == 4:
            name = f"imgs/grey/{i:04d}.png"
            Image.fromarray(photo_like(h, w, 1, seed + i)[:, :, 0], "L").save(os.path.join(root, name))
        elif i % 5 == 3:
            name = f"imgs/{i:04d}.ppm"
            a = photo_like(h, w, 3, seed + i)
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"P6\n%d %d\n255\n" % (w, h) + a.tobytes())
        else:
            name = f"imgs/{i:04d}.png"
            Image.fromarray(photo_like(h, w, 3, seed + i), "RGB").save(os.path.join(root, name))
        names.append(name)
    with open(os.path.join(root, "imgs", "labels.csv"), "w") as f:
        f.write("".join(f"{n},{i % 10}\n" for i, n in enumerate(names)))
    return names


def pillow_array(path):
    a = np.asarray(Image.open(path))
    return a[:, :, None] if a.ndim == 2 else a


@pytest.fixture
def tree(tmp_path):
    names = write_tree(tmp_path, 24)
    return tmp_path, names
