#!/usr/bin/env python3
"""Builds the 16-bit photographs of bench/deep into bench/deep/cache/ (git ignores cache/) from
Debian's libjxl-testdata package, for measuring codec 4 (spec/format.md 6.4) beside JPEG-XL and
PNG:

    python3 bench/deep/make.py          # apt-get download, dpkg-deb, pip download; numpy, imagecodecs, pydicom
    python3 bench/front_line.py --levels default --no-webp bench/deep/cache/camera \\
        bench/deep/cache/depths

Three folders, all evaluation (nothing in codec 4 was chosen by looking at them: its patch side,
segment length and precision were fixed before it first ran, and it has no other parameter):
  - camera/: the 16 16-bit RGB PNGs of 64 x 64 in external/raw.pixls and external/wesaturate/64px
    (camera raw files developed at 12 to 16 bits) and hdr_room.png (676 x 449), as they are;
  - depths/: jxl/flower/flower_small (510 x 532) at 9 to 16 bits, RGB and grey, written as 16-bit
    PNGs with each sample scaled to the full range, `round(v * 65535 / maxval)`, as pnmtopng and
    libpng write deeper-than-8-bit data: the same photograph at every depth, 16 images;
  - medical/: the distinct 16-bit grey images among pydicom 3.0.2's test files (CT, MR and
    others, 12 to 16 bits stored; 6 images), as 16-bit grey PNGs, signed samples offset by 32768.
"""
import os
import subprocess
import sys
import tempfile

import imagecodecs
import numpy as np

PACKAGE = ("libjxl-testdata", "0.0~git20230110.d6168ff-1")
ROOT = "usr/share/libjxl-testdata"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_pnm(path):
    data = open(path, "rb").read()
    fields, at = [], 2
    while len(fields) < 3:
        while data[at:at + 1].isspace():
            at += 1
        end = at
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(int(data[at:end]))
        at = end
    w, h, maxval = fields
    c = 3 if data[:2] == b"P6" else 1
    dt = ">u2" if maxval > 255 else "u1"
    a = np.frombuffer(data[at + 1:], dtype=dt, count=w * h * c).reshape(h, w, c)
    return a.astype(np.uint32), maxval


def main():
    cache = os.path.join(HERE, "cache")
    downloads = os.path.join(cache, "downloads")
    os.makedirs(downloads, exist_ok=True)
    deb = [f for f in os.listdir(downloads) if f.startswith(PACKAGE[0]) and f.endswith(".deb")]
    if not deb:
        r = subprocess.run(["apt-get", "download", f"{PACKAGE[0]}={PACKAGE[1]}"], cwd=downloads,
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"apt-get download failed (run `apt-get update` first?):\n{r.stderr}")
        deb = [f for f in os.listdir(downloads) if f.endswith(".deb")]
    with tempfile.TemporaryDirectory() as x:
        subprocess.run(["dpkg-deb", "-x", os.path.join(downloads, deb[0]), x], check=True)
        root = os.path.join(x, ROOT)
        camera = os.path.join(cache, "camera")
        os.makedirs(camera, exist_ok=True)
        sources = [os.path.join("external/raw.pixls", f)
                   for f in sorted(os.listdir(os.path.join(root, "external/raw.pixls")))]
        sources += [os.path.join("external/wesaturate/64px", f)
                    for f in sorted(os.listdir(os.path.join(root, "external/wesaturate/64px")))]
        sources.append("jxl/hdr_room.png")
        n = 0
        for rel in sources:
            data = open(os.path.join(root, rel), "rb").read()
            if not rel.endswith(".png") or data[24] != 16:
                continue  # the 8-bit sRGB versions beside them
            open(os.path.join(camera, os.path.basename(rel)), "wb").write(data)
            n += 1
        print(f"{camera}: {n} images")
        depths = os.path.join(cache, "depths")
        os.makedirs(depths, exist_ok=True)
        for kind in ("rgb", "g"):
            for bits in range(9, 17):
                ext = "ppm" if kind == "rgb" else "pgm"
                a, maxval = read_pnm(os.path.join(root, f"jxl/flower/flower_small.{kind}.depth{bits}.{ext}"))
                wide = ((a * 65535 * 2 + maxval) // (2 * maxval)).astype(np.uint16)
                if wide.shape[2] == 1:
                    wide = wide[:, :, 0]
                name = f"flower-{'rgb' if kind == 'rgb' else 'grey'}-{bits:02d}bit.png"
                open(os.path.join(depths, name), "wb").write(imagecodecs.png_encode(wide, level=9))
        print(f"{depths}: 16 images")
    medical(cache, downloads)


def medical(cache, downloads):
    import hashlib
    import warnings
    import zipfile
    import pydicom
    wheel = os.path.join(downloads, "pydicom-3.0.2-py3-none-any.whl")
    if not os.path.exists(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", downloads,
                        "pydicom==3.0.2"], check=True, capture_output=True)
    out = os.path.join(cache, "medical")
    os.makedirs(out, exist_ok=True)
    seen, n = set(), 0
    warnings.filterwarnings("ignore")
    with zipfile.ZipFile(wheel) as z:
        names = sorted(x for x in z.namelist()
                       if x.startswith("pydicom/data/test_files/") and x.endswith(".dcm"))
        for name in names:
            import io
            try:
                ds = pydicom.dcmread(io.BytesIO(z.read(name)))
                if ds.get("BitsAllocated") != 16 or ds.get("SamplesPerPixel", 1) != 1:
                    continue
                a = ds.pixel_array
            except Exception:
                continue  # compressed in a way this machine's pydicom cannot decode, or no pixels
            if a.ndim != 2:
                continue
            a = a.astype(np.int64)
            if ds.get("PixelRepresentation") == 1:
                a = a + 32768
            a = a.astype(np.uint16)
            h = hashlib.sha256(a.tobytes()).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            base = os.path.basename(name)[:-4]
            open(os.path.join(out, base + ".png"), "wb").write(imagecodecs.png_encode(a, level=9))
            n += 1
    print(f"{out}: {n} images")


if __name__ == "__main__":
    main()
