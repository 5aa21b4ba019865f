"""The local-linear pixel likelihood p(x | z1, context) of spec/model.md section 5, for training.

p0 sees only z1; the sample's causal neighbours inside its patch (W, N, NW, NE, their MED
prediction, and the same pixel's previous channel) are combined with p0's per-sample coefficients:

    mu = MED + (((((m0 + aW*W) + aN*N) + aNW*NW) + aNE*NE) + aMED*MED) + aPREV*PREV

clamped to [-2, 2], with p0's log-scale. Training uses teacher forcing: the neighbours are the true
pixels, which is what the decoder has decoded when it reaches the sample. The Rust coder
(src/model/local.rs) evaluates the same formula in the same order; `make_fixture` pins it.
"""
import torch
import torch.nn.functional as F

MU_LIMIT = 2.0


def neighbours(u):
    """u: [B, C, P, P] samples in [-1, 1]. Returns (W, N, NW, NE, MED, PREV), each [B, C, P, P].

    Patch-local rules of spec 5.2: a missing neighbour takes the value of one that exists
    (W <- N on the left column, N/NW/NE <- W on the top row, NE <- N on the right column), and
    the patch's first sample sees zeros.
    """
    P = u.shape[-1]
    zero_col = torch.zeros_like(u[..., :, :1])
    zero_row = torch.zeros_like(u[..., :1, :])
    up = torch.cat([zero_row, u[..., :-1, :]], dim=-2)           # (y-1, x)
    left = torch.cat([zero_col, u[..., :, :-1]], dim=-1)          # (y, x-1)
    up_left = torch.cat([zero_col, up[..., :, :-1]], dim=-1)      # (y-1, x-1)
    up_right = torch.cat([up[..., :, 1:], zero_col], dim=-1)      # (y-1, x+1)
    ys = torch.arange(P, device=u.device).view(P, 1)
    xs = torch.arange(P, device=u.device).view(1, P)
    top, lcol, rcol = ys == 0, xs == 0, xs == P - 1
    # Interior first, then the edge rules (the top row last: it overrides the left column).
    n = up
    w = torch.where(lcol, up, left)
    nw = torch.where(lcol, up, up_left)
    ne = torch.where(rcol, up, up_right)
    n, nw, ne = (torch.where(top, w, t) for t in (n, nw, ne))
    corner = top & lcol
    w, n, nw, ne = (torch.where(corner, torch.zeros_like(t), t) for t in (w, n, nw, ne))
    hi, lo = torch.maximum(w, n), torch.minimum(w, n)
    grad = (w + n) - nw
    med = torch.where(nw >= hi, lo, torch.where(nw <= lo, hi, grad))
    prev = torch.cat([torch.zeros_like(u[:, :1]), u[:, :-1]], dim=1)
    return w, n, nw, ne, med, prev


def groups(mu_half, ls_half, channels):
    """p0's outputs [B, 16C, g, g] (mean half, clamped half) -> 8 tensors [B, C, P, P].

    Mean half: m0, aW, aN, aNW; clamped half: log-scale, aNE, aMED, aPREV (each 4C channels,
    squeezed like the input, spec 5.1).
    """
    c4 = 4 * channels
    out = []
    for half in (mu_half, ls_half):
        for j in range(4):
            out.append(F.pixel_shuffle(half[:, j * c4:(j + 1) * c4], 2))
    m0, a_w, a_n, a_nw, ls, a_ne, a_med, a_prev = out
    return m0, ls, (a_w, a_n, a_nw, a_ne, a_med, a_prev)


def mean_and_scale(u, mu_half, ls_half):
    """Per-sample (mu, ls), [B, C, P, P], of the local-linear likelihood given the true pixels u."""
    m0, ls, coeffs = groups(mu_half.float(), ls_half.float(), u.shape[1])
    w, n, nw, ne, med, prev = neighbours(u)
    t = m0
    for a, v in zip(coeffs, (w, n, nw, ne, med, prev)):
        t = t + a * v
    mu = (med + t).clamp(-MU_LIMIT, MU_LIMIT)
    return mu, ls
