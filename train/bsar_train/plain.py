"""A second, independent forward pass written straight from the spec and the exported tensors.

Used to check that export (weight-norm folding, names, output split) reproduces the training model,
and to produce the Rust parity fixture. Deliberately shares no code with model.py.
"""
import torch
import torch.nn.functional as F


def run_net(tensors, cfg, name, inp):
    """(mu, ls) of net `name` on input [B, Cin, H, W], as spec section 2 writes it."""
    t = lambda k: tensors[f"{name}.{k}"]
    h = F.conv2d(inp, t("in.weight"), t("in.bias"), padding=1)
    for b in range(cfg.res_blocks):
        r = F.conv2d(F.elu(h), t(f"res{b}.conv1.weight"), t(f"res{b}.conv1.bias"), padding=1)
        r = F.conv2d(F.elu(r), t(f"res{b}.conv2.weight"), t(f"res{b}.conv2.bias"), padding=1)
        h = h + r
    out = F.conv2d(F.elu(h), t("out.weight"), t("out.bias"), padding=1)
    cout = out.shape[1] // 2
    min_ls = cfg.min_log_scale_pixel if name == "p0" else cfg.min_log_scale_latent
    return out[:, :cout], torch.clamp(out[:, cout:], min=min_ls)


def squeeze(k):
    """uint8 [B, C, P, P] -> x in [-1, 1], squeezed to [B, 4C, P/2, P/2] by the spec's index formula."""
    x = k.to(torch.float32) / 127.5 - 1.0
    B, C, P, _ = x.shape
    # s[c*4 + dy*2 + dx, i, j] = x[c, 2i + dy, 2j + dx]
    return x.view(B, C, P // 2, 2, P // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(B, 4 * C, P // 2, P // 2)
