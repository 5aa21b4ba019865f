#!/usr/bin/env python3
"""The front line on folders of PNG images: bsar at each level beside JPEG-XL, WebP and PNG, all
on one thread, in one run (issue #32).

    python3 bench/front_line.py [--bsar target/release/bsar] [--levels fast,default]
        [--jxl-efforts 7,9] [--no-webp] [--out FILE] DIR [DIR...]

Per folder it prints one table: bits/dim all-in (compressed bytes * 8 over the samples of the
decoded images), size against JPEG-XL e7, and encode and decode MB/s of pixels (w * h * channels
bytes) on one thread. bsar is timed as processes (`create -j1`, `extract -j1`, which rebuilds every
PNG byte for byte and is checked against the originals); the baselines in process through
`imagecodecs` (libjxl and libwebp wheels), each decode checked against the input. Needs numpy,
Pillow and imagecodecs (`pip install numpy pillow imagecodecs`).
"""

import argparse
import datetime
import filecmp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image


def load(folder):
    """Every PNG of `folder` (sorted), as (name, array uint8 HxW or HxWxC, file bytes)."""
    out = []
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith(".png"):
            continue
        path = os.path.join(folder, name)
        im = Image.open(path)
        if im.mode not in ("L", "RGB", "RGBA", "LA"):
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        out.append((name, np.asarray(im), os.path.getsize(path)))
    return out


def samples(arr):
    return arr.size


def run_bsar(bsar, folder, level, work):
    archive = os.path.join(work, f"{level}.bsar")
    args = [bsar, "create", "-j1", "-q", "--overwrite"]
    if level != "default":
        args += ["--level", level]
    args += [archive, "-C", folder, "."]
    t0 = time.perf_counter()
    subprocess.run(args, check=True)
    enc = time.perf_counter() - t0
    out = os.path.join(work, f"x-{level}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    t0 = time.perf_counter()
    subprocess.run([bsar, "extract", "-j1", "-q", archive, "-C", out], check=True)
    dec = time.perf_counter() - t0
    for name in os.listdir(folder):
        if name.lower().endswith(".png"):
            if not filecmp.cmp(os.path.join(folder, name), os.path.join(out, name), shallow=False):
                sys.exit(f"bsar --level {level}: {name} did not come back byte for byte")
    return os.path.getsize(archive), enc, dec


def run_codec(images, encode, decode):
    size, enc, dec = 0, 0.0, 0.0
    for name, arr, _ in images:
        t0 = time.perf_counter()
        data = encode(arr)
        enc += time.perf_counter() - t0
        t0 = time.perf_counter()
        back = decode(data)
        dec += time.perf_counter() - t0
        if back.shape != arr.shape and back.reshape(arr.shape).shape == arr.shape:
            back = back.reshape(arr.shape)
        if not np.array_equal(back, arr):
            sys.exit(f"{name}: a baseline's decode differs from its input")
        size += len(data[1]) if isinstance(data, tuple) else len(data)
    return size, enc, dec


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--bsar", default="target/release/bsar")
    ap.add_argument("--levels", default="fast,default")
    ap.add_argument("--jxl-efforts", default="7,9")
    ap.add_argument("--no-webp", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    import imagecodecs

    cpu = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        platform.processor(),
    )
    lines = [
        f"front_line.py, {datetime.date.today()}, {os.cpu_count()} cores ({cpu}), one thread "
        f"for every coder; imagecodecs {imagecodecs.__version__}",
        "command: python3 " + " ".join(sys.argv),
        "",
    ]
    for folder in a.dirs:
        images = load(folder)
        n = sum(samples(arr) for _, arr, _ in images)
        mb = n / 1e6
        rows = []
        with tempfile.TemporaryDirectory() as work:
            for level in a.levels.split(","):
                size, enc, dec = run_bsar(a.bsar, folder, level, work)
                rows.append((f"bsar --level {level}", size, enc, dec))
        for e in [int(x) for x in a.jxl_efforts.split(",") if x]:
            enc = lambda arr, e=e: imagecodecs.jpegxl_encode(
                arr, lossless=True, effort=e, numthreads=1
            )
            dec = lambda d: imagecodecs.jpegxl_decode(d, numthreads=1)
            rows.append((f"JPEG-XL lossless e{e}", *run_codec(images, enc, dec)))
        if not a.no_webp:
            # WebP has no grey: grey images go in as RGB, and come back as their first plane.
            def enc(arr):
                rgb = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
                return (arr.ndim, imagecodecs.webp_encode(rgb, level=100, lossless=True, method=5))

            def dec(coded):
                ndim, data = coded
                back = imagecodecs.webp_decode(data)
                return back[..., 0] if ndim == 2 else back

            rows.append(("WebP lossless m5", *run_codec(images, enc, dec)))
        png = sum(s for _, _, s in images)
        rows.append(("PNG (the files)", png, None, None))
        e7 = next((r[1] for r in rows if r[0] == "JPEG-XL lossless e7"), None)
        lines.append(f"### {folder}: {len(images)} images, {n:,} samples")
        lines.append("")
        lines.append("| coder | bits/dim | vs JXL e7 | encode MB/s | decode MB/s |")
        lines.append("|---|---:|---:|---:|---:|")
        for name, size, enc, dec in rows:
            vs = f"{100 * (size / e7 - 1):+.1f}%" if e7 else "-"
            speed = lambda t: f"{mb / t:.2f}" if t else "-"
            lines.append(
                f"| {name} | {8 * size / n:.4f} | {vs} | {speed(enc)} | {speed(dec)} |"
            )
        lines.append("")
        print("\n".join(lines[-len(rows) - 5 :]), flush=True)
    text = "\n".join(lines)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print("\n" + text)


if __name__ == "__main__":
    main()
