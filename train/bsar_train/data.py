"""Training and held-out data: MNIST IDX files and folders of images cut into random crops.

Everything is loaded into memory once and batches are produced with a few tensor ops on the training
device (no per-sample Python loop, no host synchronisation), so data never limits a GPU.
"""
import gzip
import os
import struct

import numpy as np
import torch
from PIL import Image

# MNIST: the last 5,000 images of the TRAIN split are held out for evaluation; t10k is never trained on.
MNIST_HELDOUT = 5000
# Photo folders: every 20th file in sorted name order (5%) is held out for evaluation.
HOLDOUT_EVERY = 20


def read_idx_images(path):
    """uint8 tensor [N, 1, rows, cols] from an IDX3 file (gzip or raw)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX3 header")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise ValueError(f"{path}: not an IDX3 uint8 image file (magic {magic:#010x})")
    if len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{path}: expected {16 + n * rows * cols} bytes, found {len(raw)}")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
    return torch.from_numpy(arr.copy())


class TensorSet:
    """A fixed set of equally sized images [N, C, P, P] uint8; random batches with replacement."""

    def __init__(self, images, device, description):
        self.images = images.to(device)
        self.description = description

    def __len__(self):
        return self.images.shape[0]

    def batch(self, n, generator=None):
        idx = torch.randint(len(self), (n,), device=self.images.device, generator=generator)
        return self.images[idx]


def mnist_split(path, device):
    """(train TensorSet, held-out TensorSet) from the MNIST train split."""
    imgs = read_idx_images(path)
    if imgs.shape[0] <= MNIST_HELDOUT:
        raise ValueError(f"{path}: only {imgs.shape[0]} images, need more than {MNIST_HELDOUT}")
    name = os.path.basename(path)
    n_train = imgs.shape[0] - MNIST_HELDOUT
    train = TensorSet(imgs[:n_train], device, f"MNIST {name}, first {n_train} images")
    held = TensorSet(imgs[n_train:], device, f"MNIST {name}, last {MNIST_HELDOUT} images (held out)")
    return train, held


def list_images(folder):
    exts = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(exts))
    if not files:
        raise ValueError(f"{folder}: no image files")
    return [os.path.join(folder, f) for f in files]


def split_files(files):
    """(train files, held-out files): every HOLDOUT_EVERY-th file, from the first, is held out."""
    if len(files) < 2:
        raise ValueError("need at least 2 images to hold one out for evaluation")
    held = files[::HOLDOUT_EVERY]
    train = [f for i, f in enumerate(files) if i % HOLDOUT_EVERY]
    return train, held


class CropPool:
    """Random P x P crops of a set of images, each image stored at several downscale factors.

    Each factor f is applied once at load time with PIL's BOX filter (area averaging, no aliasing),
    so a crop at f = 4 shows a thumbnail-like scene and at f = 1 full-resolution texture. A crop
    picks a scale uniformly, then an image of that scale with probability proportional to its
    area, then a uniform position, then (optionally) a horizontal flip.
    """

    def __init__(self, files, patch, channels, scales, device, flip=True):
        self.patch, self.channels, self.flip = patch, channels, flip
        mode = "RGB" if channels == 3 else "L"
        chunks, meta, total = [], [], 0
        used_scales = []
        for f in files:
            with Image.open(f) as im:
                im = im.convert(mode)
                for s in scales:
                    w, h = round(im.width / s), round(im.height / s)
                    if w < patch or h < patch:
                        continue
                    level = im if s == 1 else im.resize((w, h), Image.BOX)
                    arr = np.asarray(level, dtype=np.uint8).reshape(h, w, channels)
                    chunks.append(arr.reshape(-1))
                    meta.append((total, h, w, scales.index(s)))
                    total += arr.size
                    if s not in used_scales:
                        used_scales.append(s)
        if not meta:
            raise ValueError(f"no image is at least {patch}x{patch} at any scale")
        self.flat = torch.from_numpy(np.concatenate(chunks)).to(device)
        m = torch.tensor(meta, dtype=torch.int64)
        self.off, self.h, self.w = m[:, 0].to(device), m[:, 1].to(device), m[:, 2].to(device)
        # Entry weights: each scale level gets the same total weight, split by area inside it.
        area = (m[:, 1] * m[:, 2]).double()
        level = m[:, 3]
        weight = torch.zeros_like(area)
        n_levels = int(level.unique().numel())
        for lv in level.unique():
            sel = level == lv
            weight[sel] = area[sel] / area[sel].sum() / n_levels
        # Sampling = searchsorted of a uniform in the cumulative weights (no host sync, unlike some
        # multinomial paths); the last entry is forced to exceed 1 so no sample falls off the end.
        cdf = weight.cumsum(0)
        cdf[-1] = 2.0
        self.cdf = cdf.float().to(device)
        self.n_images, self.scales = len(files), sorted(used_scales)
        self.pixels = int(self.flat.numel())
        p = torch.arange(patch, device=device)
        c = torch.arange(channels, device=device)
        self._dy, self._dx, self._c = p.view(1, -1, 1, 1), p.view(1, 1, -1, 1), c.view(1, 1, 1, -1)

    def batch(self, n, generator=None):
        dev = self.flat.device
        e = torch.searchsorted(self.cdf, torch.rand(n, device=dev, generator=generator), right=True)
        h, w, off = self.h[e], self.w[e], self.off[e]
        y0 = (torch.rand(n, device=dev, generator=generator) * (h - self.patch + 1)).long()
        x0 = (torch.rand(n, device=dev, generator=generator) * (w - self.patch + 1)).long()
        dx = self._dx.expand(n, 1, self.patch, 1)
        if self.flip:
            flip = torch.rand(n, device=dev, generator=generator) < 0.5
            dx = torch.where(flip.view(-1, 1, 1, 1), self.patch - 1 - dx, dx)
        v = lambda t: t.view(-1, 1, 1, 1)
        idx = v(off) + ((v(y0) + self._dy) * v(w) + v(x0) + dx) * self.channels + self._c
        return self.flat[idx].permute(0, 3, 1, 2).contiguous()  # [n, C, P, P]


def folder_split(folder, patch, channels, scales, device, heldout_crops, seed):
    """(train CropPool, held-out TensorSet of fixed crops) from a folder of images."""
    files = list_images(folder)
    train_files, held_files = split_files(files)
    train = CropPool(train_files, patch, channels, scales, device)
    train.description = (
        f"{os.path.basename(os.path.normpath(folder))}: {len(train_files)} of {len(files)} images "
        f"(all but every {HOLDOUT_EVERY}th in name order), random {patch}x{patch} crops at downscale "
        f"factors {train.scales} (box filter), horizontal flips"
    )
    # The held-out crops are drawn once, on the CPU with a fixed seed: the same set every run.
    held_pool = CropPool(held_files, patch, channels, scales, "cpu", flip=False)
    g = torch.Generator().manual_seed(seed)
    crops = held_pool.batch(heldout_crops, generator=g)
    held = TensorSet(
        crops, device,
        f"{heldout_crops} fixed random crops (seed {seed}) of the {len(held_files)} held-out images "
        f"(every {HOLDOUT_EVERY}th file in name order, first included)",
    )
    held.files = [os.path.basename(f) for f in held_files]
    return train, held
