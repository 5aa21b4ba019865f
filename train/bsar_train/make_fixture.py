"""Write the Rust engine's parity fixture (layout: tests/fixtures/README.md).

    PYTHONPATH=train python -m bsar_train.make_fixture [--out tests/fixtures] [--images DIR]

A tiny model (C=3, P=8, L=2, Cz=2, W=8, R=1) is trained for a few dozen steps on random crops of
photos-train (so its weights are not trivial), exported as model-tiny.{json,safetensors}, read back,
and run by the independent spec-level forward pass (plain.py) on 4 crops. The expected outputs go to
model-tiny-expect.safetensors, all image-shaped tensors in NHWC order. `model-tiny-local` is the
same with the local-linear pixel likelihood (spec/model.md section 5); its expectations add the
per-sample means `pixel.mu`. `--fixture NAME` writes one of them (default: both).
"""
import dataclasses
import argparse
import os
import sys

import torch
from safetensors.torch import save_file

from . import data, dists, local, plain
from .config import LN2, ModelConfig
from .export import check_exported, read_model, write_model
from .model import BitSwapVAE
from .train import loss_fn

PHOTOS = "/work/shared/data/photos-train"
REPO_IMAGES = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "train-images")
# The log-scale floors are set high so that some outputs are clamped: the fixture tests max() too.
CFG = ModelConfig(channels=3, patch=8, latent_layers=2, latent_channels=2, width=8, res_blocks=1,
                  min_log_scale_latent=-0.05, min_log_scale_pixel=-2.0)
FIXTURES = {"model-tiny": CFG, "model-tiny-local": dataclasses.replace(CFG, pixel_context="local-linear")}
B, STEPS, SEED = 4, 150, 20261128


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def train_tiny(cfg, pool):
    torch.manual_seed(SEED)
    model = BitSwapVAE(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(SEED)
    for _ in range(STEPS):
        loss, nelbo = loss_fn(model, pool.batch(64, generator=g), free_bits=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), float(nelbo.detach().mean()) / (cfg.dims * LN2)


def expectations(prefix, x):
    """Bins, net inputs/outputs and coding costs for uint8 images x [B, C, P, P] (NCHW)."""
    cfg, _, t = read_model(prefix)
    edges, centres = t["latent.edges"], t["latent.centres"]
    g = torch.Generator().manual_seed(SEED)
    L, out, cost = cfg.latent_layers, {}, torch.zeros(x.shape[0], dtype=torch.float64)
    f64 = lambda *a: [v.double() for v in a]
    inp, bins, zc = plain.squeeze(x), [], []
    with torch.no_grad():
        for i in range(L):  # q{i}: q(z_{i+1} | .); the bin of a continuous sample
            mu, ls = plain.run_net(t, cfg, f"q{i}", inp)
            out[f"in.q{i}"], out[f"out.q{i}.mu"], out[f"out.q{i}.ls"] = nhwc(inp), nhwc(mu), nhwc(ls)
            z = dists.logistic_sample(mu, ls, g)
            b = dists.latent_bin_of(z, edges)
            cost += dists.latent_bin_log_prob(b, *f64(mu, ls), edges.double()).flatten(1).sum(1)
            out[f"zbins.{i + 1}"] = nhwc(b).to(torch.int32)
            bins.append(b)
            inp = centres[b]
            zc.append(inp)
        for i in range(L):  # p0: p(x | z1); p{i}: p(z_i | z_{i+1}); then the top prior p(z_L)
            mu, ls = plain.run_net(t, cfg, f"p{i}", zc[i])
            out[f"in.p{i}"], out[f"out.p{i}.mu"], out[f"out.p{i}.ls"] = nhwc(zc[i]), nhwc(mu), nhwc(ls)
            if i == 0 and cfg.pixel_context == "local-linear":
                pmu, pls = local.mean_and_scale(x.to(torch.float32) / 127.5 - 1.0, mu, ls)
                out["pixel.mu"] = nhwc(pmu)
                lp = dists.pixel_log_prob(x, *f64(pmu, pls))
            elif i == 0:
                lp = dists.pixel_log_prob(torch.nn.functional.pixel_unshuffle(x, 2), *f64(mu, ls))
            else:
                lp = dists.latent_bin_log_prob(bins[i - 1], *f64(mu, ls), edges.double())
            cost -= lp.flatten(1).sum(1)
        zero = torch.zeros(bins[-1].shape, dtype=torch.float64)
        cost -= dists.latent_bin_log_prob(bins[-1], zero, zero, edges.double()).flatten(1).sum(1)
    out["x"] = nhwc(x)
    out["nelbo_bits"] = (cost / LN2).float()
    return out


def self_check(prefix, x, exp):
    """The training model, loaded with the exported weights, must give the same outputs."""
    from .export import load_exported

    model, cfg = load_exported(prefix)
    with torch.no_grad():
        for n in cfg.net_names():
            inp = exp[f"in.{n}"].permute(0, 3, 1, 2)
            mu, ls = model.nets[n](inp)
            d = max(float((nhwc(mu) - exp[f"out.{n}.mu"]).abs().max()),
                    float((nhwc(ls) - exp[f"out.{n}.ls"]).abs().max()))
            if d > 1e-5:
                raise AssertionError(f"{n}: training model and exported tensors differ by {d}")
    if not torch.equal(exp["in.q0"], nhwc(torch.nn.functional.pixel_unshuffle(x.float() / 127.5 - 1, 2))):
        raise AssertionError("squeezed input differs from pixel_unshuffle")


def verify(prefix):
    """Recompute model-tiny-expect from model-tiny and its x; every tensor must agree."""
    from safetensors.torch import load_file

    problems = check_exported(prefix)
    old = load_file(prefix + "-expect.safetensors")
    new = expectations(prefix, old["x"].permute(0, 3, 1, 2).contiguous())
    if set(old) != set(new):
        problems.append(f"tensor names differ: {sorted(set(old) ^ set(new))}")
    for k in sorted(set(old) & set(new)):
        if old[k].dtype != new[k].dtype or old[k].shape != new[k].shape:
            problems.append(f"{k}: {old[k].dtype} {tuple(old[k].shape)} vs {new[k].dtype} {tuple(new[k].shape)}")
        elif k.startswith(("x", "zbins")):
            if not torch.equal(old[k], new[k]):
                problems.append(f"{k}: differs")
        elif not torch.allclose(old[k], new[k], rtol=1e-5, atol=1e-4):
            problems.append(f"{k}: differs by {float((old[k] - new[k]).abs().max()):.3g}")
    for p in problems:
        print(f"error: {prefix}: {p}", file=sys.stderr)
    if not problems:
        print(f"ok: {prefix}-expect.safetensors agrees with {prefix}.safetensors ({len(old)} tensors)")
    return 1 if problems else 0


def write_fixture(name, cfg, folder, train_files, held_files, out):
    pool = data.CropPool(train_files, cfg.patch, cfg.channels, [1.0, 2.0, 4.0], "cpu")
    model, train_bpd = train_tiny(cfg, pool)
    held = data.CropPool(held_files, cfg.patch, cfg.channels, [1.0, 2.0], "cpu", flip=False)
    x = held.batch(B, generator=torch.Generator().manual_seed(SEED))
    prefix = os.path.join(out, name)
    info = {"data": f"{STEPS} Adam steps (batch 64, lr 5e-3, seed {SEED}) on random 8x8 crops of "
                    f"{os.path.basename(os.path.normpath(folder))} (all but every {data.HOLDOUT_EVERY}th file)",
            "purpose": "parity fixture for the Rust engine, not a useful model",
            "final_train_nelbo_bpd": round(train_bpd, 4)}
    write_model(model, prefix, "tiny-parity-fixture" + name[len("model-tiny"):], info)
    problems = check_exported(prefix)
    if problems:
        raise SystemExit("error: " + "; ".join(problems))
    exp = expectations(prefix, x)
    self_check(prefix, x, exp)
    save_file(exp, prefix + "-expect.safetensors")
    os.chmod(prefix + "-expect.safetensors", 0o644)
    for ext in (".json", ".safetensors", "-expect.safetensors"):
        print(f"wrote {prefix}{ext} ({os.path.getsize(prefix + ext)} bytes)")
    print("nelbo_bits per image:", [round(v, 2) for v in exp["nelbo_bits"].tolist()],
          f"({[round(v / cfg.dims, 3) for v in exp['nelbo_bits'].tolist()]} bits/dim)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures")
    ap.add_argument("--images", help=f"training images (default {PHOTOS}, else the repo's train-images)")
    ap.add_argument("--fixture", choices=sorted(FIXTURES), help="write or verify this one only")
    ap.add_argument("--verify", action="store_true",
                    help="write nothing: recompute the expectations of the fixture in --out and compare")
    a = ap.parse_args(argv)
    names = [a.fixture] if a.fixture else list(FIXTURES)
    if a.verify:
        return max(verify(os.path.join(a.out, n)) for n in names)
    folder = a.images or (PHOTOS if os.path.isdir(PHOTOS) else REPO_IMAGES)
    if folder != PHOTOS:
        print(f"note: training the tiny model on {folder}, not {PHOTOS}", file=sys.stderr)
    files = data.list_images(folder)
    train_files, held_files = data.split_files(files)
    for name in names:
        write_fixture(name, FIXTURES[name], folder, train_files, held_files, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
