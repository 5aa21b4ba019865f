"""Logistic distributions, continuous and discretised (spec/model.md section 2).

All functions here run in float32 (or float64 when given float64), never under bf16 autocast:
pixel bins are 2/255 wide, far below bf16's resolution near 1.
"""
import math

import torch
import torch.nn.functional as F

# Stand-in for an infinite edge. Finite so that gradients never meet inf * 0 = nan; large enough that
# F(t) at it is exactly 0 or 1 (|t| >= BIG * exp(-6) >> 100).
BIG = 1e20


class _ClampMinUpward(torch.autograd.Function):
    """max(r, lo) in the forward pass, exactly as the spec (and the Rust engine) computes it.

    A plain max() has zero gradient below `lo`, so a raw log-scale that falls under the floor would be
    stuck there for good. Here the gradient still reaches r below the floor when it would push r *up*
    (towards a larger scale), so clamped units can recover; pushes further down are blocked.
    """

    @staticmethod
    def forward(ctx, r, lo):
        below = r < lo
        ctx.save_for_backward(below)
        return torch.clamp(r, min=lo)

    @staticmethod
    def backward(ctx, g):
        (below,) = ctx.saved_tensors
        # dL/dr = g; gradient descent moves r by -g, i.e. upwards when g < 0.
        return torch.where(below & (g > 0), torch.zeros_like(g), g), None


def clamp_log_scale(r, lo):
    return _ClampMinUpward.apply(r, lo)


def logistic_sample(mu, ls, generator=None):
    """Reparameterised sample mu + s * logit(u), u uniform in (0, 1)."""
    u = torch.rand(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
    u = u.clamp(1e-6, 1 - 1e-6)
    return mu + torch.exp(ls) * (torch.log(u) - torch.log1p(-u))


def logistic_log_density(z, mu, ls):
    """log of the logistic density at z (nats)."""
    t = (z - mu) * torch.exp(-ls)
    return -t - ls - 2.0 * F.softplus(-t)


def log_bin_prob(lo, hi, mu, ls):
    """log(F((hi-mu)/s) - F((lo-mu)/s)) for lo < hi, stable in both tails.

    Uses F(a) - F(b) = F(a) * F(-b) * (1 - exp(b - a)), a > b, so no difference of nearly equal
    numbers is ever formed. Infinite edges must be passed as -BIG / +BIG.
    """
    inv_s = torch.exp(-ls)
    a = (hi - mu) * inv_s
    b = (lo - mu) * inv_s
    return F.logsigmoid(a) + F.logsigmoid(-b) + torch.log(-torch.expm1(b - a))


def pixel_edges(k, dtype=torch.float32):
    """Lower/upper edges e_k, e_(k+1) of the bins of sample values k (integer tensor, 0..255)."""
    x = k.to(dtype) / 127.5 - 1.0
    lo = torch.where(k == 0, torch.full_like(x, -BIG), x - 1.0 / 255.0)
    hi = torch.where(k == 255, torch.full_like(x, BIG), x + 1.0 / 255.0)
    return lo, hi


def pixel_log_prob(k, mu, ls):
    """log P(k) under the discretised logistic with end bins absorbing the tails."""
    lo, hi = pixel_edges(k, mu.dtype)
    return log_bin_prob(lo, hi, mu, ls)


def latent_edges(n, dtype=torch.float64):
    """Interior edges E_1..E_{n-1} of n equal-mass bins of the standard logistic (float64 first)."""
    i = torch.arange(1, n, dtype=torch.float64)
    return torch.log(i / (n - i)).to(dtype)


def latent_centres(n, dtype=torch.float64):
    """Bin centres c_0..c_{n-1}: the standard logistic's quantiles at (i + 0.5) / n."""
    i = torch.arange(n, dtype=torch.float64)
    return torch.log((i + 0.5) / (n - i - 0.5)).to(dtype)


def table_problems(edges, centres):
    """Ways an f32 latent bin table breaks spec section 4.7 (empty list: a valid table).

    edges = E_1..E_{N-1} strictly increasing and finite; centres c_0..c_{N-1} finite, each in its
    bin [E_i, E_{i+1}] with E_0 = -inf, E_N = +inf.
    """
    problems = []
    if edges.dim() != 1 or centres.shape != (edges.numel() + 1,):
        return [f"table shapes {tuple(edges.shape)} / {tuple(centres.shape)}, want (N-1,) / (N,)"]
    if not (torch.isfinite(edges).all() and torch.isfinite(centres).all()):
        problems.append("latent table holds non-finite values")
    bad = (edges[1:] <= edges[:-1]).nonzero()
    if bad.numel():
        problems.append(f"latent.edges not strictly increasing at index {int(bad[0]) + 2}")
    inf = edges.new_tensor([float("inf")])
    lo, hi = torch.cat([-inf, edges]), torch.cat([edges, inf])
    out = (~((lo <= centres) & (centres <= hi))).nonzero()
    if out.numel():
        problems.append(f"latent centre {int(out[0])} lies outside its bin")
    return problems


def latent_bin_of(z, edges):
    """Index i with E_i <= z < E_{i+1} (edges = E_1..E_{N-1}, same dtype as z)."""
    return torch.searchsorted(edges, z.contiguous(), right=True)


def latent_bin_log_prob(bins, mu, ls, edges):
    """log P(bin) for a logistic (mu, ls) with the shipped edges."""
    lo_edges = torch.cat([edges.new_tensor([-BIG]), edges])
    hi_edges = torch.cat([edges, edges.new_tensor([BIG])])
    return log_bin_prob(lo_edges[bins].to(mu.dtype), hi_edges[bins].to(mu.dtype), mu, ls)


LOG2 = math.log(2.0)
