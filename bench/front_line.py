#!/usr/bin/env python3
"""The front line on folders of PNG images: bsar at each level beside JPEG-XL, WebP and PNG, every
coder on one thread, in one run.

    python3 bench/front_line.py [--bsar target/release/bsar] [--levels fast,default,max]
        [--jxl-efforts 7,9] [--webp-method 6] [--no-webp] [--out FILE] DIR [DIR...]

Per folder it prints one markdown table: bits/dim all-in (total compressed bytes * 8 over the
samples, w * h * channels, of the decoded images), size against JPEG-XL lossless e7, and encode
and decode MB/s (MB of raw pixel bytes per second of wall clock).
  - bsar runs as processes: `BSAR create -j1 [--level L] OUT.bsar -C DIR .` then
    `BSAR extract -j1 OUT.bsar -C TMP` (with `--device cpu` where bsar has that option), each
    timed as a whole; every extracted file must equal its original byte for byte. `--level` is
    passed only when the levels asked for are not just `default`; levels that `BSAR create --help`
    does not list are skipped with a note.
  - JPEG-XL lossless (libjxl) and WebP lossless (libwebp, quality 100, --webp-method) run in this
    process through `imagecodecs` on one thread (libjxl numthreads=1; libwebp numthreads=0, as
    imagecodecs' 1 turns libwebp's threading on), timed per image and summed; each decode must
    equal its input exactly. A coder whose CPU time comes out well above its wall clock is named
    in a note under the table. WebP has no grey mode: grey images are given to it as RGB.
    Palette images are given to them as RGB (they find a palette themselves), 1-bit ones as
    8-bit grey.
  - 16-bit PNGs are decoded with imagecodecs (Pillow has no 16-bit RGB) and given to JPEG-XL
    as uint16; bits/dim counts 16-bit samples; WebP, which has no 16-bit mode, is left out.
  - PNG: the files as they are (decode timed with Pillow), and `optipng -o2` of them where optipng
    is on PATH (encode is optipng's wall clock; its output decoded and checked).
Needs numpy, Pillow and imagecodecs (`pip install numpy pillow imagecodecs`).
"""

import argparse
import datetime
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image


def die(msg):
    sys.exit(f"front_line.py: {msg}")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def decode_png(path):
    with open(path, "rb") as f:
        head = f.read(26)
    if head[24:25] == b"\x10":
        # 16-bit: Pillow has no 16-bit RGB; imagecodecs (libpng) gives uint16 arrays.
        import imagecodecs
        with open(path, "rb") as f:
            return imagecodecs.png_decode(f.read())
    im = Image.open(path)
    if im.mode == "1":
        im = im.convert("L")
    if im.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B"):
        im = im.convert("RGBA" if ("A" in im.mode or "transparency" in im.info) else "RGB")
    return np.asarray(im)


def load(folder):
    """Every PNG directly in `folder` (sorted), as (name, path, array)."""
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.lower().endswith(".png") and os.path.isfile(path):
            out.append((name, path, decode_png(path)))
    if not out:
        die(f"{folder}: no PNG files")
    return out


# --- bsar -------------------------------------------------------------------------------------

def bsar_help(bsar):
    r = subprocess.run([bsar, "create", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"`{bsar} create --help` failed: {r.stderr.strip()}")
    return r.stdout


def bsar_levels(help_text):
    """The values `create --level` accepts, or None when it has no --level."""
    m = re.search(r"^\s*(-l, )?--level\b.*?(?=^\s{2,6}-)", help_text, re.S | re.M)
    if not m:
        return None
    return re.findall(r"^\s*- (\w[\w-]*):", m.group(0), re.M) or None


def files_under(root):
    out = []
    for d, _, fs in os.walk(root):
        for f in fs:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def same_bytes(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


MULTICORE = set()  # coders whose CPU time came out well above their wall clock


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, label=None):
    c0, t0 = children_cpu(), time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    t = time.perf_counter() - t0
    if label and children_cpu() - c0 > 1.15 * t + 0.05:
        MULTICORE.add(label)
    if r.returncode != 0:
        die(f"`{shlex.join(cmd)}` failed ({r.returncode}):\n{r.stderr.strip()}")
    return t


def run_bsar(bsar, folder, level, extra, work):
    archive = os.path.join(work, f"{level or 'default'}.bsar")
    out = os.path.join(work, f"x-{level or 'default'}")
    os.makedirs(out)
    create = [bsar, "create", "-j1"] + extra + (["--level", level] if level else []) + \
        [archive, "-C", folder, "."]
    extract = [bsar, "extract", "-j1"] + extra + [archive, "-C", out]
    enc = timed(create, f"bsar create {level or 'default'}")
    dec = timed(extract, f"bsar extract {level or 'default'}")
    want, got = files_under(folder), files_under(out)
    if want != got:
        die(f"bsar {level or 'default'}: extracted {len(got)} files, the folder has {len(want)}: "
            f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}")
    for f in want:
        if not same_bytes(os.path.join(folder, f), os.path.join(out, f)):
            die(f"bsar {level or 'default'}: {f} did not come back byte for byte")
    size = os.path.getsize(archive)
    shutil.rmtree(out)
    os.remove(archive)
    return size, enc, dec, create, extract


# --- in-process baselines ---------------------------------------------------------------------

def run_codec(label, images, encode, decode, expect=lambda a: a):
    size, enc, dec = 0, 0.0, 0.0
    cpu0 = time.process_time()
    for name, _, arr in images:
        src = np.ascontiguousarray(expect(arr))
        t0 = time.perf_counter()
        data = encode(src)
        enc += time.perf_counter() - t0
        t0 = time.perf_counter()
        back = decode(data)
        dec += time.perf_counter() - t0
        if back.shape != src.shape and back.size == src.size:
            back = back.reshape(src.shape)
        if src.ndim == 3 and src.shape[2] == 4 and back.ndim == 3 and back.shape[2] == 3 \
                and (src[..., 3] == 255).all():
            src = src[..., :3]  # libwebp drops an opaque alpha channel
        if back.shape != src.shape or not np.array_equal(back, src):
            die(f"{label}: {name} does not decode to its input")
        size += len(data)
    if time.process_time() - cpu0 > 1.15 * (enc + dec) + 0.05:
        MULTICORE.add(label)
    return size, enc, dec


def as_rgb(arr):
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[2] == 2:  # grey + alpha
        return np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
    return arr


def run_png_files(images):
    dec = 0.0
    for _, path, _ in images:
        t0 = time.perf_counter()
        decode_png(path)
        dec += time.perf_counter() - t0
    return sum(os.path.getsize(p) for _, p, _ in images), None, dec


def run_optipng(images, work):
    d = os.path.join(work, "optipng")
    os.makedirs(d)
    size, enc, dec = 0, 0.0, 0.0
    for name, path, arr in images:
        out = os.path.join(d, name)
        enc += timed(["optipng", "-quiet", "-o2", "-out", out, path], "optipng")
        t0 = time.perf_counter()
        back = decode_png(out)
        dec += time.perf_counter() - t0
        # optipng may change the colour type without changing a pixel (a palette of greys
        # written as grey): compare as RGB where the shapes differ.
        if back.shape != arr.shape:
            back, arr = as_rgb(back), as_rgb(arr)
        if not np.array_equal(back, arr):
            die(f"optipng: {name} changed its pixels")
        size += os.path.getsize(out)
    shutil.rmtree(d)
    return size, enc, dec


# --- the run ----------------------------------------------------------------------------------

def machine():
    try:
        n = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        n = str(os.cpu_count())
    cpu = platform.processor() or "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    return f"nproc {n}, {cpu}"


def codec_versions(imagecodecs):
    v = imagecodecs.version(dict) if callable(getattr(imagecodecs, "version", None)) else {}
    keep = [f"imagecodecs {imagecodecs.__version__}"]
    for k in ("libjxl", "libwebp"):
        if k in v:
            keep.append(f"{k} {v[k]}")
    return ", ".join(keep)


def optipng_version():
    out = subprocess.run(["optipng", "-v"], capture_output=True, text=True).stdout
    m = re.search(r"OptiPNG version (\S+)", out)
    return f"optipng {m.group(1) if m else '(unknown version)'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", metavar="DIR")
    ap.add_argument("--bsar", default="target/release/bsar")
    ap.add_argument("--levels", default="fast,default,max",
                    help="bsar levels, comma-separated (those bsar lacks are skipped, with a note)")
    ap.add_argument("--jxl-efforts", default="7,9")
    ap.add_argument("--webp-method", type=int, default=6)
    ap.add_argument("--no-webp", action="store_true")
    ap.add_argument("--no-optipng", action="store_true")
    ap.add_argument("--out", metavar="FILE", help="also write the tables to FILE")
    a = ap.parse_args()
    try:
        import imagecodecs
    except ImportError:
        die("needs imagecodecs: pip install imagecodecs")

    bsar = a.bsar if os.sep in a.bsar else (shutil.which(a.bsar) or a.bsar)
    if not os.path.exists(bsar):
        die(f"no bsar binary at {a.bsar}")
    help_text = bsar_help(bsar)
    supported = bsar_levels(help_text)
    asked = [l for l in a.levels.split(",") if l]
    notes = []
    if supported is None:
        if asked != ["default"]:
            notes.append(f"this bsar has no --level: only its default level is run "
                         f"(asked for {','.join(asked)})")
        levels = [None]
    else:
        skipped = [l for l in asked if l not in supported]
        if skipped:
            notes.append(f"this bsar's --level has no {', '.join(skipped)} "
                         f"(it has {', '.join(supported)}): skipped")
        kept = [l for l in asked if l in supported]
        levels = [None] if kept == ["default"] else kept
        if not levels:
            die(f"none of the levels {a.levels} is bsar's ({', '.join(supported)})")
    extra = ["--device", "cpu"] if re.search(r"^\s*--device\b", help_text, re.M) else []
    bsar_version = subprocess.run([bsar, "--version"], capture_output=True,
                                  text=True).stdout.strip() or "bsar (no --version)"
    efforts = [int(x) for x in a.jxl_efforts.split(",") if x]
    optipng = not a.no_optipng and shutil.which("optipng")

    head = [
        f"front_line.py, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; {machine()}; "
        f"one thread for every coder",
        f"coders: {bsar_version} ({bsar}); {codec_versions(imagecodecs)}; Pillow "
        f"{Image.__version__}" + (f"; {optipng_version()}" if optipng else ""),
        "command: python3 " + shlex.join(sys.argv),
    ]
    head += [f"note: {n}" for n in notes]
    if not optipng and not a.no_optipng:
        head.append("note: no optipng on PATH: its row is left out")
    out_lines = head + [""]
    print("\n".join(out_lines), flush=True)

    for folder in a.dirs:
        images = load(folder)
        samples = sum(arr.size for _, _, arr in images)
        mb = sum(arr.nbytes for _, _, arr in images) / 1e6
        rows, notes_here = [], []
        with tempfile.TemporaryDirectory(prefix="front_line.") as work:
            cmds = []
            for level in levels:
                log(f"{folder}: bsar {level or 'default'} ...")
                size, enc, dec, create, extract = run_bsar(bsar, folder, level, extra, work)
                rows.append((f"bsar {level or 'default'}", size, enc, dec))
                cmds.append(shlex.join(create).replace(work, "TMP"))
                cmds.append(shlex.join(extract).replace(work, "TMP"))
            for e in efforts:
                log(f"{folder}: JPEG-XL e{e} ...")
                rows.append((f"JPEG-XL lossless e{e}", *run_codec(
                    f"JPEG-XL e{e}", images,
                    lambda x, e=e: imagecodecs.jpegxl_encode(x, lossless=True, effort=e,
                                                             numthreads=1),
                    lambda d: imagecodecs.jpegxl_decode(d, numthreads=1))))
            deep = any(arr.dtype != np.uint8 for _, _, arr in images)
            if deep and not a.no_webp:
                notes_here.append("WebP has no 16-bit mode: its row is left out")
            if not a.no_webp and not deep:
                m = a.webp_method
                log(f"{folder}: WebP m{m} ...")
                rows.append((f"WebP lossless m{m} q100", *run_codec(
                    "WebP", images,
                    # numthreads=0: imagecodecs' 1 turns on libwebp's (two-thread) threading
                    lambda x: imagecodecs.webp_encode(x, level=100, lossless=True, method=m,
                                                      numthreads=0),
                    imagecodecs.webp_decode, expect=as_rgb)))
            rows.append(("PNG (the files)", *run_png_files(images)))
            if optipng:
                log(f"{folder}: optipng -o2 ...")
                rows.append(("PNG optipng -o2", *run_optipng(images, work)))
        e7 = next((r[1] for r in rows if r[0] == "JPEG-XL lossless e7"), None)
        mp = sum(arr.shape[0] * arr.shape[1] for _, _, arr in images) / 1e6
        table = [
            f"### {folder}: {len(images)} images, {mp:.2f} megapixels, {samples:,} samples "
            f"({mb:.2f} MB of pixels)",
            "",
            "bsar runs: " + "; ".join(f"`{c}`" for c in cmds),
            "",
            "| coder | bits/dim | vs JXL e7 | encode MB/s | decode MB/s |",
            "|---|---:|---:|---:|---:|",
        ]
        speed = lambda t: f"{mb / t:.2f}" if t else "-"
        for name, size, enc, dec in rows:
            vs = f"{100 * (size / e7 - 1):+.1f}%" if e7 else "-"
            table.append(f"| {name} | {8 * size / samples:.4f} | {vs} | {speed(enc)} | "
                         f"{speed(dec)} |")
        if notes_here:
            table.append("")
            table += [f"note: {n}" for n in notes_here]
        if MULTICORE:
            table.append("")
            table.append("note: CPU time well above wall clock (more than one core) for: "
                         + ", ".join(sorted(MULTICORE)))
            MULTICORE.clear()
        table.append("")
        print("\n".join(table), flush=True)
        out_lines += table
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(out_lines) + "\n")


if __name__ == "__main__":
    main()
