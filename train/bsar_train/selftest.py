"""Checks of the maths and the export path that need no data: `python -m bsar_train.selftest`.

Each check compares two independent computations (or a sum against its known total) and fails loudly.
"""
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from . import data, dists, plain
from .config import ModelConfig
from .export import check_exported, read_model, write_model
from .model import BitSwapVAE


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main():
    torch.manual_seed(0)
    d = torch.float64
    mu = torch.randn(50, 1, dtype=d) * 1.5
    ls = torch.rand(50, 1, dtype=d) * 6 - 6
    k = torch.arange(256).view(1, -1)
    total = dists.pixel_log_prob(k, mu, ls).exp().sum(1)
    check(torch.allclose(total, torch.ones_like(total), atol=1e-12), "pixel bin probabilities sum to 1")

    sig = lambda t: 1 / (1 + torch.exp(-t))
    x = k.to(d) / 127.5 - 1
    hi = torch.where(k == 255, torch.ones_like(x) * 1e300, x + 1 / 255)
    lo = torch.where(k == 0, -torch.ones_like(x) * 1e300, x - 1 / 255)
    naive = sig((hi - mu) / ls.exp()) - sig((lo - mu) / ls.exp())
    stable = dists.pixel_log_prob(k, mu, ls).exp()
    check(torch.allclose(naive, stable, rtol=1e-9, atol=1e-15), "stable bin formula matches the naive CDF difference")

    n = 1024
    edges = dists.latent_edges(n)
    mu = torch.randn(20, 1, dtype=d) * 2
    ls = torch.rand(20, 1, dtype=d) * 3 - 2.3
    bins = torch.arange(n).view(1, -1)
    total = dists.latent_bin_log_prob(bins, mu, ls, edges).exp().sum(1)
    check(torch.allclose(total, torch.ones_like(total), atol=1e-12), "latent bin probabilities sum to 1")
    std = dists.latent_bin_log_prob(bins, torch.zeros(1, 1, dtype=d), torch.zeros(1, 1, dtype=d), edges).exp()
    check(torch.allclose(std, torch.full_like(std, 1 / n), rtol=1e-9), "latent bins have equal standard-logistic mass")
    z = torch.randn(1000, dtype=d) * 3
    b = dists.latent_bin_of(z, edges)
    full = torch.cat([torch.tensor([-np.inf], dtype=d), edges, torch.tensor([np.inf], dtype=d)])
    check(bool(((full[b] <= z) & (z < full[b + 1])).all()), "latent_bin_of finds E_i <= z < E_(i+1)")
    c = dists.latent_centres(n)
    check(bool(((full[:-1] < c) & (c < full[1:])).all()), "each centre lies inside its bin")

    std_table = dists.latent_edges(n).float(), dists.latent_centres(n).float()
    check(not dists.table_problems(*std_table), "the default f32 table meets spec 4.7")
    e, c = std_table[0].clone(), std_table[1].clone()
    e[10] = e[9]
    check(any("strictly increasing" in p for p in dists.table_problems(e, c)), "a repeated edge is refused")
    e, c = std_table[0].clone(), std_table[1].clone()
    c[0] = e[0] + 0.1
    check(any("centre 0" in p for p in dists.table_problems(e, c)), "a centre outside its bin is refused")

    # A fitted table covers posterior samples far outside the default table's +-6.93 finely.
    from . import fit_bins
    g = torch.Generator().manual_seed(3)
    far = torch.cat([torch.randn(20000, generator=g, dtype=d) * 0.2 + 15,
                     torch.randn(20000, generator=g, dtype=d) * 0.2 - 12,
                     torch.randn(20000, generator=g, dtype=d)]).numpy()
    scale = np.concatenate([np.full(40000, 0.2), np.full(20000, 1.0)])
    fe, fc = fit_bins.to_f32_table(*fit_bins.fit_table(far, scale, n))
    check(not dists.table_problems(fe, fc) and fe.shape == (n - 1,), "a fitted table meets spec 4.7")
    full = torch.cat([torch.tensor([-np.inf]), fe, torch.tensor([np.inf])])
    zf = torch.from_numpy(far).float()
    b = dists.latent_bin_of(zf, fe)
    check(bool(((full[b] <= zf) & (zf < full[b + 1])).all()) and 0 < int(b.min()) and int(b.max()) < n - 1,
          "fitted edges place every sample in an interior bin")
    err = (fc[b] - zf).abs()
    check(float(err[:40000].max()) < 0.05, f"fitted centres lie within 0.05 of tail samples (max {float(err[:40000].max()):.3f})")
    std_err = (std_table[1][dists.latent_bin_of(zf, std_table[0])] - zf).abs()
    check(float(std_err[:40000].mean()) > 3, "(the default table clamps those samples to its end bins)")

    r = torch.tensor([-5.0, -1.0, -5.0], requires_grad=True)
    out = dists.clamp_log_scale(r, -2.0)
    check(torch.equal(out.detach(), torch.tensor([-2.0, -1.0, -2.0])), "log-scale clamp is max(r, min)")
    (out * torch.tensor([1.0, 1.0, -1.0])).sum().backward()
    check(torch.equal(r.grad, torch.tensor([0.0, 1.0, -1.0])), "clamped log-scale passes only upward gradients")

    kk = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    check(torch.equal(plain.squeeze(kk), F.pixel_unshuffle(kk.float() / 127.5 - 1, 2)),
          "squeeze index formula equals pixel_unshuffle")

    # Crops come from the right place of the right image.
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image
        arr = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
        Image.fromarray(arr).save(os.path.join(tmp, "a.png"))
        pool = data.CropPool([os.path.join(tmp, "a.png")], 8, 3, [1.0], "cpu", flip=False)
        crops = pool.batch(64).permute(0, 2, 3, 1).numpy()
        found = all(any((arr[y:y + 8, x:x + 8] == cr).all() for y in range(33) for x in range(49)) for cr in crops[:8])
        check(found, "random crops are windows of the source image")

        # IDX reader: header parsed, pixels in order; a truncated file is refused.
        import gzip, struct
        imgs = np.random.default_rng(1).integers(0, 256, (3, 5, 4), dtype=np.uint8)
        raw = struct.pack(">IIII", 0x803, 3, 5, 4) + imgs.tobytes()
        with gzip.open(os.path.join(tmp, "i.gz"), "wb") as f:
            f.write(raw)
        check(np.array_equal(data.read_idx_images(os.path.join(tmp, "i.gz")).numpy()[:, 0], imgs),
              "IDX reader returns the stored images")
        with open(os.path.join(tmp, "bad"), "wb") as f:
            f.write(raw[:-1])
        try:
            data.read_idx_images(os.path.join(tmp, "bad"))
            check(False, "truncated IDX file is refused")
        except ValueError:
            check(True, "truncated IDX file is refused")

        # Export: plain forward of the exported tensors == training model (weight norm folded right).
        cfg = ModelConfig(channels=3, patch=8, latent_layers=2, latent_channels=2, width=8, res_blocks=2)
        model = BitSwapVAE(cfg).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        prefix = os.path.join(tmp, "m")
        write_model(model, prefix, "selftest", {"note": "random weights"})
        problems = check_exported(prefix)
        check(not problems, "exported files match spec section 3 " + "; ".join(problems))
        cfg2, _, tensors = read_model(prefix)
        check(cfg2 == cfg, "JSON config round-trips")
        worst = 0.0
        for name in cfg.net_names():
            cin, _ = cfg.net_io(name)
            inp = torch.randn(3, cin, 4, 4)
            with torch.no_grad():
                m1, l1 = model.nets[name](inp)
                m2, l2 = plain.run_net(tensors, cfg, name, inp)
            worst = max(worst, float((m1 - m2).abs().max()), float((l1 - l2).abs().max()))
        check(worst < 1e-4, f"exported nets reproduce the training nets (max diff {worst:.2e})")
    check_local_neighbours(check)
    print("selftest passed")
    return 0


def check_local_neighbours(check):
    """local.neighbours (whole tensors) against spec/model.md 5.2 written out sample by sample."""
    from . import local

    g = torch.Generator().manual_seed(5)
    u = torch.randint(0, 256, (2, 3, 6, 6), generator=g).float() / 127.5 - 1.0
    got = local.neighbours(u)
    P, bad = 6, 0
    for b in range(2):
        for c in range(3):
            for y in range(P):
                for x in range(P):
                    v = lambda yy, xx: float(u[b, c, yy, xx])
                    if y == 0 and x == 0:
                        w = n = nw = ne = 0.0
                    elif y == 0:
                        w = v(0, x - 1)
                        n = nw = ne = w
                    elif x == 0:
                        n = v(y - 1, 0)
                        w = nw = n
                        ne = v(y - 1, 1)
                    else:
                        w, n, nw = v(y, x - 1), v(y - 1, x), v(y - 1, x - 1)
                        ne = v(y - 1, x + 1) if x + 1 < P else n
                    med = min(w, n) if nw >= max(w, n) else max(w, n) if nw <= min(w, n) else None
                    prev = float(u[b, c - 1, y, x]) if c > 0 else 0.0
                    want = [w, n, nw, ne, med, prev]
                    for k, t in enumerate(got):
                        if want[k] is not None and float(t[b, c, y, x]) != want[k]:
                            bad += 1
    check(bad == 0, f"local-linear neighbours follow spec 5.2 ({bad} mismatches)")


if __name__ == "__main__":
    sys.exit(main())
