"""Fit the scale tables of the predictive patch code (spec/bitswap.md 3.5) and print them.

    python -m bsar_train.seed_tables [--data ../shared/data]

The predictive code is bsar's code that needs no bits back: it seeds the stack for the first
patches of a chunk and codes any patch it codes more cheaply than the model. It predicts each
sample with the median edge detector (plus the previous channel's error, for colour) and codes it
under a logistic whose scale depends only on an activity bucket. This script fits one scale per
bucket by grid search over the exact discretised logistic cost (float64), then rounds each to 3
significant digits: those rounded values are the spec's tables and `src/bitswap/predictive.rs`.

Data (training splits only; never the evaluation sets):
- grey: the first 1,000 images of the MNIST training split (the next 1,000 are held out);
- colour: 32x32 crops of every third photos-train file at downscales 1, 2, 3, 4, 6, 8 and 12
  (two crops per scale, numpy seed 0), the scales CIFAR-like thumbnails and photo patches see.

Needs ../shared/data (the project's machines only); says so and exits 2 without it.
"""

import argparse
import glob
import gzip
import os
import sys

import numpy as np

THRESHOLDS = [1, 2, 3, 5, 9, 17, 33, 65, 129, 257]
BUCKETS = len(THRESHOLDS) + 1


def bucket(act):
    b = np.zeros_like(act)
    for t in THRESHOLDS:
        b += act >= t
    return b


def features(img):
    """(samples, predictions, buckets, channel) of an HxWxC uint8 patch, as the spec defines."""
    h, w, c = img.shape
    x = img.astype(np.int64)
    pad = np.zeros((h + 1, w + 2, c), np.int64)
    pad[1:, 1 : w + 1] = x
    wn, n = pad[1:, 0:w].copy(), pad[0:h, 1 : w + 1].copy()
    nw, ne = pad[0:h, 0:w].copy(), pad[0:h, 2 : w + 2].copy()
    ne[:, -1] = n[:, -1]
    hi, lo = np.maximum(wn, n), np.minimum(wn, n)
    med = np.where(nw >= hi, lo, np.where(nw <= lo, hi, wn + n - nw))
    b = bucket(np.abs(wn - nw) + np.abs(n - nw) + np.abs(ne - n))
    # First row: the left neighbour predicts, horizontal activity.
    ww = np.zeros_like(x[0])
    ww[2:], ww[1] = x[0, :-2], x[0, 0]
    med[0, 1:] = x[0, :-1]
    b[0, 1:] = bucket(3 * np.abs(x[0, :-1] - ww[1:]))
    # First column: the sample above predicts, activity from its right neighbour.
    med[1:, 0] = x[:-1, 0]
    right = x[:-1, 1] if w > 1 else x[:-1, 0]
    b[1:, 0] = bucket(3 * np.abs(right - x[:-1, 0]))
    med[0, 0], b[0, 0] = 128, BUCKETS - 1
    pred = med.astype(np.float64)
    for ch in range(1, c):
        pred[..., ch] = np.clip(med[..., ch] + (x[..., ch - 1] - med[..., ch - 1]), 0, 255)
    chan = np.broadcast_to(np.arange(c), x.shape)
    return x.ravel(), pred.ravel(), b.ravel(), chan.ravel()


def cost(x, pred, s):
    lo = np.where(x == 0, -np.inf, x - 0.5)
    hi = np.where(x == 255, np.inf, x + 0.5)
    with np.errstate(over="ignore"):
        p = 1 / (1 + np.exp(-(hi - pred) / s)) - 1 / (1 + np.exp(-(lo - pred) / s))
    return -np.log2(np.maximum(p, 2.0**-20))


def fit(patches, groups):
    x, p, b, ch = map(np.concatenate, zip(*[features(im) for im in patches]))
    tables = {}
    grid = np.exp(np.linspace(np.log(0.03), np.log(80), 90))
    for name, sel in groups(ch):
        t = []
        for k in range(BUCKETS):
            m = sel & (b == k)
            if m.sum() < 20:  # too few samples: reuse the previous bucket's scale
                t.append(t[-1] if t else 1.0)
                continue
            best = min((cost(x[m], p[m], s).sum(), s) for s in grid)
            t.append(float("%.3g" % best[1]))
        tables[name] = t
    return tables


def evaluate(patches, scales):
    x, p, b, ch = map(np.concatenate, zip(*[features(im) for im in patches]))
    return cost(x, p, scales(b, ch)).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/data"))
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        print(f"seed_tables: SKIPPED: {args.data} is not here (only the project's machines have the data)")
        sys.exit(2)
    from PIL import Image

    raw = gzip.open(os.path.join(args.data, "mnist/train-images-idx3-ubyte.gz")).read()
    mnist = np.frombuffer(raw[16 : 16 + 784 * 2000], np.uint8).reshape(2000, 28, 28, 1)
    grey = fit(mnist[:1000], lambda ch: [("grey", ch >= 0)])["grey"]
    print("GREY", grey)
    print("  bits/sample, held-out MNIST train 1,000:", round(evaluate(mnist[1000:], lambda b, ch: np.array(grey)[b]), 4))

    rng = np.random.default_rng(0)
    crops = []
    for f in sorted(glob.glob(os.path.join(args.data, "photos-train/*")))[::3]:
        im = np.array(Image.open(f).convert("RGB"))
        for s in [1, 2, 3, 4, 6, 8, 12]:
            small = im[::s, ::s]
            if small.shape[0] < 32 or small.shape[1] < 32:
                continue
            for _ in range(2):
                y = rng.integers(0, small.shape[0] - 31)
                x = rng.integers(0, small.shape[1] - 31)
                crops.append(small[y : y + 32, x : x + 32])
    colour = fit(crops, lambda ch: [("first", ch == 0), ("other", ch > 0)])
    print("COLOUR_FIRST", colour["first"])
    print("COLOUR_OTHER", colour["other"])
    pick = lambda b, ch: np.where(ch == 0, np.array(colour["first"])[b], np.array(colour["other"])[b])
    print(f"  bits/sample, the {len(crops)} fitting crops:", round(evaluate(crops, pick), 4))


if __name__ == "__main__":
    main()
