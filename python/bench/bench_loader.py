"""Images per second through a PyTorch DataLoader (2 workers): bsar shards against a folder of
PNG files read with Pillow and a WebDataset-style tar of the same PNGs, measured in one run; and
the Python reader's overhead over the Rust decoder (``Archive.iter_images`` against
``bsar extract`` on the same archive), and the map-style dataset's random-access cost.

    python3 python/bench/bench_loader.py [--data ../shared/data] [--bsar target/release/bsar]

Needs ``../shared/data`` (cifar10-sample, photos-eval); says so and exits 2 without it.
"""

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np
import torch
from PIL import Image

import bsar
import bsar.shards
import bsar.torch


class PngFolder(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.files[i], torch.from_numpy(np.array(Image.open(self.files[i]).convert("RGB")))


class PngTar(torch.utils.data.IterableDataset):
    """WebDataset's layout: one tar of the PNG files, read sequentially, members split among
    workers by position."""

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        with tarfile.open(self.path) as tar:
            for k, m in enumerate(tar):
                if k % n != wid or not m.isfile():
                    continue
                data = tar.extractfile(m).read()
                yield m.name, torch.from_numpy(np.array(Image.open(io.BytesIO(data)).convert("RGB")))


def rate(ds, workers=2, batch=64):
    """Images per second over one epoch (the better of two), in batches of ``batch``."""
    best = 0.0
    for _ in range(2):
        loader = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers)
        t = time.perf_counter()
        n = sum(len(names) for names, _ in loader)
        best = max(best, n / (time.perf_counter() - t))
    return n, best


def crops(src_dir, out_dir, size=32):
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for f in sorted(os.listdir(src_dir)):
        a = np.asarray(Image.open(os.path.join(src_dir, f)).convert("RGB"))
        for y in range(0, a.shape[0] - size + 1, size):
            for x in range(0, a.shape[1] - size + 1, size):
                p = os.path.join(out_dir, f"{f[:-4]}-{y:03d}-{x:03d}.png")
                Image.fromarray(a[y : y + size, x : x + size]).save(p)
                files.append(p)
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/data"))
    ap.add_argument("--bsar", default=os.path.join(os.path.dirname(__file__), "../../target/release/bsar"))
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.data, "cifar10-sample")):
        print(f"bench_loader: {args.data} not found (the project's machines have it)", file=sys.stderr)
        sys.exit(2)
    tmp = tempfile.mkdtemp(prefix="bench-loader-")
    cifar = os.path.join(args.data, "cifar10-sample")
    sets = [
        ("cifar10-sample (2,000 PNGs, 32x32)", cifar, sorted(os.path.join(cifar, f) for f in os.listdir(cifar))),
    ]
    pe = os.path.join(tmp, "photos-eval-crops")
    sets.append(("photos-eval 32x32 crops (18 images, 4,050 PNGs)", pe, crops(os.path.join(args.data, "photos-eval"), pe)))
    for title, folder, files in sets:
        total = sum(os.path.getsize(f) for f in files)
        tar = os.path.join(tmp, os.path.basename(folder) + ".tar")
        with tarfile.open(tar, "w") as t:
            for f in files:
                t.add(f, arcname=os.path.basename(f))
        out = os.path.join(tmp, os.path.basename(folder) + "-shards")
        manifest = bsar.shards.write_shards(
            out, [os.path.basename(folder)], target_bytes=total // 4 + 1, directory=os.path.dirname(folder)
        )
        shards = bsar.shards.read_manifest(manifest)
        print(f"\n{title}: {len(files)} images, {total} bytes of PNG; {len(shards)} bsar shards, "
              f"{sum(s[2] for s in shards)} bytes")
        print("\n| reader (DataLoader, 2 workers, batches of 64) | images | images/s |")
        print("|---|---:|---:|")
        for name, ds in [
            ("PNG folder + Pillow", PngFolder(files)),
            ("tar of PNGs (WebDataset layout) + Pillow", PngTar(tar)),
            ("bsar shards, BsarIterableDataset", bsar.torch.BsarIterableDataset(manifest)),
            ("bsar shards, BsarIterableDataset, shuffle", bsar.torch.BsarIterableDataset(manifest, shuffle=True, seed=1)),
        ]:
            n, r = rate(ds)
            print(f"| {name} | {n} | {r:,.0f} |")
        # The Python reader against the Rust decoder, one thread, the first shard.
        shard = shards[0][0]
        t = time.perf_counter()
        subprocess.run([args.bsar, "extract", "-q", shard, "-C", os.path.join(tmp, "x")], check=True)
        rust = time.perf_counter() - t
        t = time.perf_counter()
        n = sum(1 for _ in bsar.Archive(shard).iter_images())
        py = time.perf_counter() - t
        print(f"\nfirst shard, {n} images: `bsar extract` {rust:.3f} s, `iter_images` {py:.3f} s "
              f"({100 * (py / rust - 1):+.1f}%)")
        ds = bsar.torch.BsarDataset(manifest, cache_chunks=4)
        for order_name, order in [("chunk order", range(len(ds))),
                                  ("random order", np.random.default_rng(0).permutation(len(ds))[:200])]:
            t = time.perf_counter()
            for i in order:
                ds[int(i)]
            print(f"BsarDataset, {order_name}: {len(order) / (time.perf_counter() - t):,.0f} images/s "
                  f"({len(order)} reads, cache of 4 chunks)")
            ds._cache.clear()


if __name__ == "__main__":
    main()
