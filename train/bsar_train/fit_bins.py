"""Fit a model's own latent bin table (spec/model.md section 2) and re-export the model with it.

    python -m bsar_train.fit_bins --model models-gpu/rgb --images /work/shared/data/photos-train \\
        --out models --name rgb-photos

The default table has N bins of equal mass under the standard logistic, so it covers about
[-ln N, ln N] = [-6.9, 6.9] finely and clamps everything beyond into the two end bins. A trained
model's posteriors need not live there: some latent channels put their means at +-10..20 with
scales of 0.1..0.3. Coding then feeds the end-bin centre (+-7.6) to the next nets instead of the
latent, and the coding cost can be far above the negative ELBO.

The fitted table puts bin density where the model's latents are, weighted by how much a
discretisation error there costs:

- pooled posterior samples z ~ q(z|.) of every layer and channel on TRAINING images (continuous
  chain, as in training), each with its posterior scale s;
- rounding a net's input by a bin of width d costs about (d / s)^2 (the nets were trained with
  noise of scale s), so with rho(z) the density of the samples weighted by 1 / s^2, the bin density
  that minimises the expected cost for a fixed N is proportional to rho(z)^(1/3) (the classic
  companding rule; `--power`);
- a fraction `--prior-mix` of the bins keeps the default equal-mass layout, so the top prior
  p(z_L) and latents of unseen images are still covered;
- the density is integrated on a fine grid (float64) and the edges are its N-quantiles; each centre is
  the median of the samples in its bin (the midpoint where a bin holds fewer than 8 samples).

The table is checked against spec section 4.7 (edges strictly increasing as f32, each centre inside
its bin) and written with the nets' tensors copied unchanged, so the model's nets are bit-identical.
The command prints, and records in the JSON `train` object, the held-out coding cost before and
after, on the same held-out images as training (train.py): the MNIST train split's last 5,000
images, or 4,096 fixed crops (seed 1234) of every 20th file of the folder. Fitting never sees them.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from . import data, dists
from .config import config_from_json
from .evaluate import heldout_bpd
from .export import _atomic_write, check_exported, load_exported, read_model
from .model import to_unit

HELDOUT_CROPS, HELDOUT_SEED = 4096, 1234  # as train.py's held-out set
MIN_SAMPLES_FOR_MEDIAN = 8


@torch.no_grad()
def posterior_samples(model, images, batch=128, seed=0):
    """(z, s) float64 numpy arrays: one continuous posterior sample of every latent of every image
    (all layers and channels pooled) and the scale of the posterior it came from."""
    g = torch.Generator().manual_seed(seed)
    zs, ss = [], []
    for i in range(0, images.shape[0], batch):
        inp = F.pixel_unshuffle(to_unit(images[i : i + batch]), 2)
        for layer in range(model.cfg.latent_layers):
            mu, ls = model.nets[f"q{layer}"](inp)
            z = dists.logistic_sample(mu, ls, g)
            zs.append(z.double().flatten().numpy())
            ss.append(ls.double().exp().flatten().numpy())
            inp = z
    return np.concatenate(zs), np.concatenate(ss)


def _gauss_smooth(v, sigma_cells):
    r = int(math.ceil(4 * sigma_cells))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_cells) ** 2)
    return np.convolve(v, k / k.sum(), mode="same")


def fit_table(z, s, n_bins, power=1 / 3, prior_mix=0.05, grid_step=2e-3, smooth=0.02):
    """(edges [N-1], centres [N]) float64 numpy arrays fitted to samples z with scales s.

    Bin density = (1 - prior_mix) * normalised (rho_w)^power + prior_mix * standard logistic pdf,
    where rho_w is the histogram of z weighted by 1 / s^2, smoothed (Gaussian, `smooth` units).
    """
    z = z[np.isfinite(z)] if not np.isfinite(z).all() else z
    edge_std = math.log(n_bins - 1)  # the default table's outermost edge
    lo = min(float(np.min(z)), -edge_std) - 1.0
    hi = max(float(np.max(z)), edge_std) + 1.0
    cells = int(math.ceil((hi - lo) / grid_step))
    grid = lo + grid_step * np.arange(cells + 1)  # cell boundaries
    w = 1.0 / np.square(s)
    hist, _ = np.histogram(z, bins=grid, weights=w)
    hist = _gauss_smooth(hist / (hist.sum() * grid_step), smooth / grid_step)
    dens = np.power(np.maximum(hist, 0.0), power)
    dens /= dens.sum() * grid_step
    mid = 0.5 * (grid[1:] + grid[:-1])
    logistic = np.exp(-np.abs(mid)) / np.square(1.0 + np.exp(-np.abs(mid)))
    logistic /= logistic.sum() * grid_step
    dens = (1.0 - prior_mix) * dens + prior_mix * logistic
    cdf = np.concatenate([[0.0], np.cumsum(dens) * grid_step])
    cdf /= cdf[-1]
    # Edges: N-quantiles of the bin density (linear inside a grid cell, where it is constant).
    targets = np.arange(1, n_bins) / n_bins
    edges = np.interp(targets, cdf, grid)
    # Centres: median of the samples in each bin, or the midpoint of a sparsely populated bin.
    bins = np.searchsorted(edges, z, side="right")
    order = np.lexsort((z, bins))
    zb, bb = z[order], bins[order]
    starts = np.searchsorted(bb, np.arange(n_bins), side="left")
    ends = np.searchsorted(bb, np.arange(n_bins), side="right")
    full = np.concatenate([[edges[0] - (edges[1] - edges[0])], edges, [edges[-1] + (edges[-1] - edges[-2])]])
    centres = 0.5 * (full[:-1] + full[1:])
    for i in range(n_bins):
        if ends[i] - starts[i] >= MIN_SAMPLES_FOR_MEDIAN:
            centres[i] = np.median(zb[starts[i] : ends[i]])
    return edges, centres


def to_f32_table(edges, centres):
    """f32 torch tensors meeting spec 4.7: edges nudged up to stay strictly increasing, each centre
    clamped into its bin after rounding."""
    e = edges.astype(np.float32)
    for i in range(1, e.size):
        if not e[i] > e[i - 1]:
            e[i] = np.nextafter(e[i - 1], np.float32(np.inf))
    c = centres.astype(np.float32)
    c[1:] = np.maximum(c[1:], e)
    c[:-1] = np.minimum(c[:-1], e)
    table = torch.from_numpy(e.copy()), torch.from_numpy(c.copy())
    problems = dists.table_problems(*table)
    if problems:
        raise ValueError("fitted table is invalid: " + "; ".join(problems))
    return table


def load_split(cfg, doc, mnist, images, scales, heldout_crops=HELDOUT_CROPS):
    """(fit images, held-out images, descriptions): fitting never sees the held-out set.

    For a folder, the held-out files must be the ones the model's JSON records (`heldout_files`):
    the split is by position in the folder, so another folder would silently fit on held-out images.
    """
    if mnist:
        fit, held = data.mnist_split(mnist, "cpu")
        return fit.images, held.images, fit.description, held.description
    fit, held = data.folder_split(images, cfg.patch, cfg.channels, scales, "cpu", heldout_crops, HELDOUT_SEED)
    recorded = doc.get("train", {}).get("heldout_files")
    if recorded is not None and recorded != held.files:
        raise ValueError(f"{images}: its held-out files (every {data.HOLDOUT_EVERY}th) are not the "
                         f"{len(recorded)} the model records in train.heldout_files; pass the folder "
                         f"the model was trained on")
    return None, held.images, fit, held.description  # fit: a CropPool, sampled by the caller


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="path prefix of NAME.json / NAME.safetensors")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--mnist", help="MNIST train IDX file (the model's training data)")
    src.add_argument("--images", help="the model's training image folder (photos-train)")
    ap.add_argument("--scales", default="1,1.5,2,3,4", help="downscale factors, as the model's training used")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--name", help="name of the written model (default: the input's)")
    ap.add_argument("--fit-images", type=int, default=2048, help="training images / crops to fit on")
    ap.add_argument("--bins", type=int, help="N (default: the model's latent_bins)")
    ap.add_argument("--power", type=float, default=1 / 3)
    ap.add_argument("--prior-mix", type=float, default=0.05)
    ap.add_argument("--heldout-crops", type=int, default=HELDOUT_CROPS,
                    help="held-out crops of a folder, as train.py's --heldout-crops (seed 1234)")
    ap.add_argument("--eval-images", type=int, help="evaluate on the first K held-out images only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        model, cfg = load_exported(a.model)
        _, doc, tensors = read_model(a.model)
        fit_imgs, held, fit_desc, held_desc = load_split(cfg, doc, a.mnist, a.images, [float(v) for v in a.scales.split(",")],
                                                        a.heldout_crops)
        g = torch.Generator().manual_seed(a.seed + 1)
        if fit_imgs is None:
            pool, fit_desc = fit_desc, fit_desc.description
            fit_imgs = pool.batch(a.fit_images, generator=g)
            fit_desc = f"{a.fit_images} random crops (seed {a.seed + 1}) of " + fit_desc
        else:
            pick = torch.randperm(fit_imgs.shape[0], generator=g)[: a.fit_images]
            fit_imgs, fit_desc = fit_imgs[pick], f"{a.fit_images} random images (seed {a.seed + 1}) of {fit_desc}"
        n = a.bins or cfg.latent_bins
        z, s = posterior_samples(model, fit_imgs, seed=a.seed)
        edges, centres = to_f32_table(*fit_table(z, s, n, a.power, a.prior_mix))
        k = held.shape[0] if a.eval_images is None else min(a.eval_images, held.shape[0])
        dev = torch.device("cpu")
        old = (tensors["latent.edges"], tensors["latent.centres"])
        cont, disc_old = heldout_bpd(model, held, 128, dev, seed=0, limit=k, table=old)
        if n != cfg.latent_bins:
            cfg.latent_bins = n
        _, disc_new = heldout_bpd(model, held, 128, dev, seed=0, discrete=True, limit=k, table=(edges, centres))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"held-out ({k} images): nELBO {cont:.4f} bpd; discretised-latent coding cost {disc_old:.4f} bpd "
          f"with the input's table, {disc_new:.4f} bpd with the fitted table "
          f"(edges {float(edges[0]):.2f} .. {float(edges[-1]):.2f})")

    name = a.name or doc["name"]
    tensors = dict(tensors, **{"latent.edges": edges, "latent.centres": centres})
    doc = dict(doc, name=name, latent_bins=n)
    info = dict(doc.get("train", {}))
    info.setdefault("heldout_discrete_bpd_default_table", info.get("heldout_discrete_bpd"))
    info.update({
        "heldout_discrete_bpd": round(disc_new, 5),
        "latent_table": (
            f"fitted by bsar_train.fit_bins to the model's pooled posterior samples on {fit_desc}: "
            f"bin density (1 - {a.prior_mix:g}) * (1/s^2-weighted sample density)^{a.power:.4g} + "
            f"{a.prior_mix:g} * standard logistic pdf; centres = medians of the samples in each bin"
        ),
        "latent_table_eval": (f"{held_desc}: {k} images, nELBO {cont:.5f} bpd, coding cost "
                              f"{disc_old:.5f} bpd with the input's table, {disc_new:.5f} with the fitted one"),
    })
    doc["train"] = info
    os.makedirs(a.out, exist_ok=True)
    prefix = os.path.join(a.out, name)
    _atomic_write(prefix + ".safetensors", lambda p: save_file(tensors, p))

    def write_json(p):
        with open(p, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")

    _atomic_write(prefix + ".json", write_json)
    problems = check_exported(prefix)
    if problems:
        print(f"error: {prefix}: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"wrote {prefix}.json and {prefix}.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
