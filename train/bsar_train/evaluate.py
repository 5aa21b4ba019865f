"""Held-out negative ELBO in bits per dimension, continuous and with discretised latents.

As a command, evaluates an exported model (NAME.json + NAME.safetensors) on an MNIST IDX file or on
the P x P tiles of a folder of images:

    python -m bsar_train.evaluate --model runs/rgb --images /work/shared/data/cifar10-sample
"""
import argparse
import json
import os
import sys

import torch

from . import dists, data
from .config import LN2


@torch.no_grad()
def heldout_bpd(model, images, batch, device, seed=0, discrete=True, limit=None, table=None):
    """(continuous nELBO bpd, discrete coding-cost bpd or None) averaged over `images` [N,C,P,P].

    Runs in f32 with TF32 off, i.e. the arithmetic of the exported model, with a fixed seed so that
    successive evaluations are comparable. `table` = (edges, centres), f32 tensors as shipped in a
    model file; None means the default equal-mass table of spec section 2.
    """
    was_training = model.training
    model.eval()
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    cfg = model.cfg
    if table is None:
        table = dists.latent_edges(cfg.latent_bins, torch.float32), dists.latent_centres(cfg.latent_bins, torch.float32)
    edges, centres = (t.to(device=device, dtype=torch.float32) for t in table)
    gen = torch.Generator(device=device).manual_seed(seed)
    cpu_state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    torch.manual_seed(seed)  # elbo_terms samples from the default generator
    n = images.shape[0] if limit is None else min(limit, images.shape[0])
    cont, disc = 0.0, 0.0
    try:
        for i in range(0, n, batch):
            k = images[i : min(i + batch, n)].to(device)
            recon, kls = model.elbo_terms(k)
            cont += float((recon + sum(kl.flatten(1).sum(1) for kl in kls)).double().sum())
            if discrete:
                disc += float(model.discrete_cost(k, edges, centres, gen).double().sum())
    finally:
        torch.random.set_rng_state(cpu_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, device)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
        model.train(was_training)
    scale = n * cfg.dims * LN2
    return cont / scale, (disc / scale if discrete else None)


@torch.no_grad()
def latent_bits(model, images, batch, device, seed=0, limit=None):
    """Bits per patch that the latents carry (the KL terms, summed over layers) and that the pixel
    likelihood codes (-log p(x | z1)), averaged over `images`: how far the model is from posterior
    collapse (a pixel likelihood that codes everything leaves the latents nothing to carry)."""
    was_training = model.training
    model.eval()
    cpu_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    n = images.shape[0] if limit is None else min(limit, images.shape[0])
    kl_sum, recon_sum = 0.0, 0.0
    try:
        for i in range(0, n, batch):
            recon, kls = model.elbo_terms(images[i : min(i + batch, n)].to(device))
            recon_sum += float(recon.double().sum())
            kl_sum += float(sum(kl.flatten(1).sum(1) for kl in kls).double().sum())
    finally:
        torch.random.set_rng_state(cpu_state)
        model.train(was_training)
    return kl_sum / (n * LN2), recon_sum / (n * LN2)


def folder_tiles(folder, patch, channels):
    """All non-overlapping P x P tiles lying fully inside each image (borders are left out)."""
    import numpy as np
    from PIL import Image

    tiles = []
    for f in data.list_images(folder):
        with Image.open(f) as im:
            arr = np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
        arr = arr.reshape(arr.shape[0], arr.shape[1], channels)
        for y in range(0, arr.shape[0] - patch + 1, patch):
            for x in range(0, arr.shape[1] - patch + 1, patch):
                tiles.append(arr[y : y + patch, x : x + patch])
    if not tiles:
        raise ValueError(f"{folder}: no image holds a {patch}x{patch} tile")
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).contiguous()


def main(argv=None):
    from .export import load_exported, read_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="path prefix of NAME.json / NAME.safetensors")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--mnist", help="IDX3 image file (all images are evaluated)")
    src.add_argument("--images", help="folder of images, cut into full P x P tiles")
    ap.add_argument("--limit", type=int, help="evaluate only the first N images / tiles")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        model, cfg = load_exported(a.model)
        _, _, tensors = read_model(a.model)
        table = tensors["latent.edges"], tensors["latent.centres"]  # the file's own bin table
        device = torch.device(a.device)
        model.to(device)
        if a.mnist:
            imgs = data.read_idx_images(a.mnist)
            what = os.path.basename(a.mnist)
        else:
            imgs = folder_tiles(a.images, cfg.patch, cfg.channels)
            what = f"{os.path.basename(os.path.normpath(a.images))} ({cfg.patch}x{cfg.patch} tiles)"
        if imgs.shape[1:] != (cfg.channels, cfg.patch, cfg.patch):
            raise ValueError(f"images are {tuple(imgs.shape[1:])}, model wants C,P,P = "
                             f"{(cfg.channels, cfg.patch, cfg.patch)}")
        n = imgs.shape[0] if a.limit is None else min(a.limit, imgs.shape[0])
        cont, disc = heldout_bpd(model, imgs, a.batch, device, a.seed, limit=n, table=table)
        kl, recon = latent_bits(model, imgs, a.batch, device, a.seed, limit=n)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{what}: {n} images, negative ELBO {cont:.4f} bpd, discretised-latent coding cost "
          f"{disc:.4f} bpd (no initial bits); per patch, the latents carry {kl:.1f} bits (KL) and "
          f"the pixel likelihood codes {recon:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
