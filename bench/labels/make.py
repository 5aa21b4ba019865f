#!/usr/bin/env python3
"""Label maps, masks and palette images made from the held-out photographs (bench/photos), for
measuring the levels code and palette PNGs beside JPEG-XL, WebP and PNG:

    python3 bench/photos/fetch.py           # the photographs, once
    python3 bench/labels/make.py            # about 1 min; numpy, Pillow, scikit-image
    python3 bench/front_line.py bench/labels/cache/eval/*

From each photograph of `bench/photos/cache/{tune,eval}` it writes, under
`bench/labels/cache/{tune,eval}/KIND/` (git ignores `cache/`), one PNG of each kind:

| kind | what | PNG |
|---|---|---|
| `slic` | SLIC superpixels (about 100 segments, scikit-image), each pixel its label | 8-bit grey |
| `slic-rgb` | the same labels in the 19 colours of the Cityscapes palette, repeating | 8-bit RGB |
| `mask` | grey level above Otsu's threshold | 1-bit grey |
| `dither` | Floyd-Steinberg dithering to black and white (Pillow) | 1-bit grey |
| `p256` | median-cut quantisation to 256 colours, no dithering (Pillow) | 8-bit palette |
| `p16` | the same to 16 colours | 4-bit palette |

Photographs over 1 megapixel are first box-downscaled by 2 (the mean of each 2x2 block), so that
the set stays quick to code. The split is the photographs' (bench/photos/split.tsv): tune on
`tune`, report `eval`.
"""

import os
import sys

import numpy as np
from PIL import Image
from skimage.filters import threshold_otsu
from skimage.segmentation import slic

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.join(HERE, "..", "photos", "cache")
OUT = os.path.join(HERE, "cache")

CITYSCAPES = np.array(
    [
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
        (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ],
    np.uint8,
)


def downscaled(a):
    if a.shape[0] * a.shape[1] <= 1_000_000:
        return a
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    b = a[:h, :w].astype(np.uint32)
    s = b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def kinds(rgb):
    im = Image.fromarray(rgb)
    grey = np.asarray(im.convert("L"))
    labels = slic(rgb, n_segments=100, start_label=0)
    yield "slic", Image.fromarray(labels.astype(np.uint8), "L")
    yield "slic-rgb", Image.fromarray(CITYSCAPES[labels % len(CITYSCAPES)], "RGB")
    yield "mask", Image.fromarray(grey > threshold_otsu(grey))
    yield "dither", im.convert("L").convert("1")
    yield "p256", im.quantize(256, dither=Image.Dither.NONE)
    yield "p16", im.quantize(16, dither=Image.Dither.NONE)


def main():
    made = 0
    for part in ("tune", "eval"):
        src = os.path.join(PHOTOS, part)
        if not os.path.isdir(src):
            sys.exit(f"make.py: {src} is missing: run bench/photos/fetch.py first")
        for name in sorted(os.listdir(src)):
            if not name.endswith(".png"):
                continue
            rgb = downscaled(np.asarray(Image.open(os.path.join(src, name)).convert("RGB")))
            for kind, out in kinds(rgb):
                d = os.path.join(OUT, part, kind)
                os.makedirs(d, exist_ok=True)
                out.save(os.path.join(d, name))
                made += 1
    print(f"make.py: {made} images under {OUT}")


if __name__ == "__main__":
    main()
