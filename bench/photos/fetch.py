#!/usr/bin/env python3
"""Builds bsar's held-out photographs (bench/photos/README.md) from public packages into
bench/photos/cache/{tune,eval}/NAME.png, and checks every image against bench/photos/split.tsv.

    python3 bench/photos/fetch.py [--write-split]

Needs Python 3.11, numpy, Pillow, pip, and Debian's apt-get and dpkg-deb (apt-get download works
without root once the package lists are there: `apt-get update`). The packages are downloaded once
into bench/photos/cache/downloads/ (about 230 MB) and read from there on later runs.

Sources, every version pinned (a version the registries no longer serve fails loudly):
  - scikit-image 0.26.0's wheel (PyPI), skimage/data/: its natural photographs;
  - Debian bookworm's mate-backgrounds, plasma-workspace-wallpapers (only Kite: the ten photographs
    of that package in ../shared/data/photos-train are left out), lomiri-wallpapers-16.04 and -20.04
    (the photographs among them; renders and vector art skipped), and libjxl-testdata (its 8-bit
    photographic PNGs: no synthetic, 16-bit, alpha or animation files, no 64-pixel crops).
JPEG-sourced images are box-downscaled (the mean of each k x k block in integers, rounded half up;
a last partial row or column is cropped) by the smallest k >= 2 that brings them to at most 1.5
megapixels, so that JPEG's block artefacts are gone. Lossless (PNG) sources are kept as they are,
unless over 4 megapixels (then box-downscaled the same way: none is, today). Grey sources, and RGB
sources whose three channels are equal, are written as 8-bit grey PNGs; the rest as 8-bit RGB.
EXIF orientation is not applied (none of the sources has a rotating one).

split.tsv was written once (--write-split, refused while it exists), before any compression figure
was seen: images in order of (source package, SHA-256 of the name) alternate eval, tune, eval, ...,
so that each source is split evenly (within one image) and the two parts are within one image of
each other. Every run checks each written PNG, decoded again, against split.tsv's pixel hash:
SHA-256 of b"MODE WIDTH HEIGHT\\n" (MODE is L or RGB) followed by the raw pixel bytes, row by row.
"""

import argparse
import glob
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "cache")
DOWNLOADS = os.path.join(CACHE, "downloads")
SPLIT = os.path.join(HERE, "split.tsv")
TRAIN = os.path.join(HERE, "..", "..", "..", "shared", "data", "photos-train")
JPEG_MAX_PIXELS = 1_500_000
LOSSLESS_MAX_PIXELS = 4_000_000
COLUMNS = ["name", "part", "source", "path", "scale", "width", "height", "channels", "pixels_sha256"]

SKIMAGE = ("scikit-image", "0.26.0")
# The natural photographs of skimage/data. Left out: chessboard_*, color, phantom, logo, horse,
# page, text (synthetic, drawings or text), cell and ihc (microscopy), microaneurysms,
# multipage*, no_time_for_that_tiny (under 200 x 200), motorcycle_right (the other half of the
# stereo pair motorcycle_left: the same scene in both parts would leak).
SKIMAGE_FILES = [
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "clock_motion.png", "coffee.png",
    "coins.png", "grass.png", "gravel.png", "moon.png", "motorcycle_left.png",
    "hubble_deep_field.jpg", "retina.jpg", "rocket.jpg",
]

# Debian bookworm packages: (package, version, [file paths inside the package]).
DEBIAN = [
    ("mate-backgrounds", "1.26.0-1", [
        f"usr/share/backgrounds/mate/nature/{n}.jpg" for n in [
            "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
            "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower",
        ]
    ]),
    # The package's other photographs (BytheWater, ColdRipple, ColorfulCups, DarkestHour,
    # EveningGlow, FallenLeaf, Grey, OneStandsOut, Path, summer_1am) are photos-train's kde_*.
    ("plasma-workspace-wallpapers", "4:5.27.5-2", [
        "usr/share/wallpapers/Kite/contents/images/2560x1600.jpg",
    ]),
    ("lomiri-wallpapers-16.04", "20.04.0-2", [
        f"usr/share/backgrounds/{n}.jpg" for n in [
            "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
            "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
            "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich",
            "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
            "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
            "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi",
        ]  # umang_by_Abhishek_Mudgal is a render
    ]),
    ("lomiri-wallpapers-20.04", "20.04.0-2", [
        "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",  # the others are renders
    ]),
    ("libjxl-testdata", "0.0~git20230110.d6168ff-1", [
        "usr/share/libjxl-testdata/jxl/flower/flower.png",
        "usr/share/libjxl-testdata/external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png",
        "usr/share/libjxl-testdata/external/wesaturate/500px/tmshre_riaphotographs_srgb8.png",
        "usr/share/libjxl-testdata/external/wesaturate/500px/u76c0g_bliznaca_srgb8.png",
    ]),
]


def die(msg):
    sys.exit(f"fetch.py: {msg}")


def box_downscale(arr, k):
    """The mean of each k x k block, rounded half up, in integers; partial blocks cropped."""
    h, w = arr.shape[0] // k * k, arr.shape[1] // k * k
    a = arr[:h, :w].astype(np.uint32)
    s = a.reshape((h // k, k, w // k, k) + a.shape[2:]).sum(axis=(1, 3))
    return ((s + k * k // 2) // (k * k)).astype(np.uint8)


def scale_for(h, w, limit):
    k = 2
    while (h // k) * (w // k) > limit:
        k += 1
    return k


def png_bit_depth(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        die("not a PNG")
    return data[24], data[25]  # bit depth, colour type


def prepare(data, path):
    """(array, scale factor) of one source file, as the collection holds it."""
    is_png = path.lower().endswith(".png")
    if is_png:
        depth, ctype = png_bit_depth(data)
        if depth != 8 or ctype not in (0, 2):
            die(f"{path}: not an 8-bit grey or RGB PNG (depth {depth}, colour type {ctype})")
    im = Image.open(io.BytesIO(data))
    if im.mode not in ("L", "RGB"):
        die(f"{path}: mode {im.mode}, not L or RGB")
    arr = np.asarray(im)
    if arr.ndim == 3 and (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
        arr = arr[..., 0]
    h, w = arr.shape[:2]
    k = 1
    if not is_png:
        k = scale_for(h, w, JPEG_MAX_PIXELS)
    elif h * w > LOSSLESS_MAX_PIXELS:
        k = scale_for(h, w, JPEG_MAX_PIXELS)
    if k > 1:
        arr = box_downscale(arr, k)
    return np.ascontiguousarray(arr), k


def pixel_hash(arr):
    mode = "L" if arr.ndim == 2 else "RGB"
    h = hashlib.sha256(f"{mode} {arr.shape[1]} {arr.shape[0]}\n".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def download_wheel(project, version):
    found = glob.glob(os.path.join(DOWNLOADS, f"{project.replace('-', '_')}-{version}-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               f"{project}=={version}", "-d", DOWNLOADS]
        if subprocess.run(cmd).returncode != 0:
            die(f"pip download {project}=={version} failed")
        found = glob.glob(os.path.join(DOWNLOADS, f"{project.replace('-', '_')}-{version}-*.whl"))
    if not found:
        die(f"no wheel of {project} {version} in {DOWNLOADS}")
    return sorted(found)[0]


def download_deb(pkg, version):
    quoted = version.replace(":", "%3a")
    path = os.path.join(DOWNLOADS, f"{pkg}_{quoted}_all.deb")
    if not os.path.exists(path):
        r = subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=DOWNLOADS,
                           capture_output=True, text=True)
        if r.returncode != 0:
            die(f"apt-get download {pkg}={version} failed (run `apt-get update` first?):\n"
                f"{r.stderr.strip()}")
    if not os.path.exists(path):
        die(f"apt-get download {pkg}={version} left no {path}")
    return path


def deb_files(deb, paths):
    """{path: bytes} of the named files in a .deb (a symlink is followed inside the package)."""
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True,
                               capture_output=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        members = {os.path.normpath(m.name): m for m in t.getmembers()}
        for p in paths:
            m = members.get(os.path.normpath("./" + p))
            for _ in range(8):
                if m is None or not m.issym():
                    break
                m = members.get(os.path.normpath(os.path.join(os.path.dirname(m.name), m.linkname)))
            if m is None or not m.isfile():
                die(f"{deb}: no file {p}")
            out[p] = t.extractfile(m).read()
    return out


def sources():
    """(name, source, path inside the package, bytes) of every photograph, in a fixed order."""
    project, version = SKIMAGE
    wheel = zipfile.ZipFile(download_wheel(project, version))
    for f in SKIMAGE_FILES:
        yield f"skimage_{f.rsplit('.', 1)[0]}", f"{project}=={version}", f"skimage/data/{f}", \
            wheel.read(f"skimage/data/{f}")
    for pkg, version, paths in DEBIAN:
        files = deb_files(download_deb(pkg, version), paths)
        for p in paths:
            stem = os.path.basename(p).rsplit(".", 1)[0]
            if pkg == "plasma-workspace-wallpapers":
                stem = p.split("/")[3]  # the wallpaper's name, not its size
            if pkg == "libjxl-testdata":
                stem = stem.removesuffix("_srgb8")
            yield f"debian-{pkg}_{stem}", f"{pkg}={version}", p, files[p]


def check_disjoint_from_training(names):
    """No image of the collection is one of photos-train's kde_* (when ../shared is here)."""
    if not os.path.isdir(TRAIN):
        return
    kde = {os.path.basename(p)[4:-4] for p in glob.glob(os.path.join(TRAIN, "kde_*.png"))}
    for n in names:
        if n.startswith("debian-plasma-workspace-wallpapers_") and n.split("_", 1)[1] in kde:
            die(f"{n} is in photos-train")


def draw_split(made):
    """eval / tune by alternation over (source, sha256(name)) order."""
    order = sorted(made, key=lambda m: (m[1], hashlib.sha256(m[0].encode()).hexdigest()))
    return {m[0]: ("eval" if i % 2 == 0 else "tune") for i, m in enumerate(order)}


def read_split():
    with open(SPLIT) as f:
        lines = f.read().splitlines()
    if not lines or lines[0].split("\t") != COLUMNS:
        die(f"{SPLIT}: unexpected header")
    return [dict(zip(COLUMNS, l.split("\t"))) for l in lines[1:] if l]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-split", action="store_true",
                    help="draw the split and write split.tsv (only if it does not exist)")
    a = ap.parse_args()
    os.makedirs(DOWNLOADS, exist_ok=True)

    made = []  # (name, source, path, scale, array)
    for name, source, path, data in sources():
        arr, k = prepare(data, path)
        made.append((name, source, path, k, arr))
    names = [m[0] for m in made]
    if len(set(names)) != len(names):
        die("two images with one name")
    check_disjoint_from_training(names)

    if a.write_split:
        if os.path.exists(SPLIT):
            die(f"{SPLIT} exists: the split is drawn once; remove it by hand to draw it anew")
        part = draw_split(made)
        with open(SPLIT, "w") as f:
            f.write("\t".join(COLUMNS) + "\n")
            for name, source, path, k, arr in sorted(made):
                h, w = arr.shape[:2]
                c = 1 if arr.ndim == 2 else 3
                f.write("\t".join([name, part[name], source, path, str(k), str(w), str(h), str(c),
                                   pixel_hash(arr)]) + "\n")
        print(f"wrote {SPLIT}")
    if not os.path.exists(SPLIT):
        die(f"no {SPLIT} (draw it once with --write-split)")
    rows = {r["name"]: r for r in read_split()}
    if set(rows) != set(names):
        die(f"the images differ from {SPLIT}: only built {sorted(set(names) - set(rows))}, "
            f"only listed {sorted(set(rows) - set(names))}")

    bad = []
    for name, source, path, k, arr in made:
        r = rows[name]
        h, w = arr.shape[:2]
        c = 1 if arr.ndim == 2 else 3
        want = [r["source"], r["path"], r["scale"], r["width"], r["height"], r["channels"]]
        if want != [source, path, str(k), str(w), str(h), str(c)]:
            bad.append(f"{name}: source, path, scale or size differ from split.tsv")
            continue
        d = os.path.join(CACHE, r["part"])
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, name + ".png")
        Image.fromarray(arr).save(out, compress_level=9)
        back = Image.open(out)
        if back.mode not in ("L", "RGB"):
            bad.append(f"{out}: written as {back.mode}")
            continue
        got = pixel_hash(np.asarray(back))
        if got != r["pixels_sha256"]:
            bad.append(f"{out}: pixel sha256 {got}, split.tsv has {r['pixels_sha256']}")
    # Files of either part that the split does not name (an older collection's) go.
    for p in ("tune", "eval"):
        for f in glob.glob(os.path.join(CACHE, p, "*.png")):
            n = os.path.basename(f)[:-4]
            if n not in rows or rows[n]["part"] != p:
                os.remove(f)
    if bad:
        die("MISMATCH against split.tsv (another Pillow/libjpeg decoding the JPEGs differently, "
            "or a package changed):\n  " + "\n  ".join(bad))
    for p in ("tune", "eval"):
        sel = [r for r in rows.values() if r["part"] == p]
        mp = sum(int(r["width"]) * int(r["height"]) for r in sel) / 1e6
        print(f"{p}: {len(sel)} images, {mp:.2f} megapixels, in {os.path.join(CACHE, p)} "
              f"(every pixel hash as in split.tsv)")


if __name__ == "__main__":
    main()
