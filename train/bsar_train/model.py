"""The Bit-Swap hierarchical VAE of spec/model.md section 2, for training (weight-normalised)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dists, local


class WNConv3x3(nn.Conv2d):
    """3x3 conv, padding 1, weight = g * v / ||v|| (norm over each output channel's inputs).

    Weight normalisation decouples each filter's length from its direction, which keeps Adam's steps
    well scaled in these deep stacks; at export the product is folded into a plain weight.
    `init_scale` < 1 starts a layer near zero (residual branches, output heads) so that every net
    starts close to the identity / a standard logistic and the KL terms start near 0.
    """

    def __init__(self, cin, cout, init_scale=1.0):
        super().__init__(cin, cout, 3, padding=1)
        with torch.no_grad():
            self.g = nn.Parameter(self.weight.flatten(1).norm(dim=1) * init_scale)
            self.bias.zero_()

    def folded_weight(self):
        if self.g is None:  # loaded from an exported (already folded) file
            return self.weight
        v = self.weight
        return v * (self.g / v.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)

    def forward(self, x):
        return F.conv2d(x, self.folded_weight(), self.bias, padding=1)


class ResBlock(nn.Module):
    def __init__(self, width, dropout):
        super().__init__()
        self.conv1 = WNConv3x3(width, width)
        self.conv2 = WNConv3x3(width, width, init_scale=0.1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h):
        r = self.conv1(F.elu(h))
        r = self.conv2(self.dropout(F.elu(r)))
        return h + r


class Net(nn.Module):
    """One of the 2L nets: conv_in, R residual blocks, conv_out -> (mu, clamped log-scale)."""

    def __init__(self, cin, cout, width, res_blocks, dropout, min_ls):
        super().__init__()
        self.cout, self.min_ls = cout, min_ls
        self.inp = WNConv3x3(cin, width)
        self.res = nn.ModuleList(ResBlock(width, dropout) for _ in range(res_blocks))
        self.out = WNConv3x3(width, 2 * cout, init_scale=0.1)

    def forward(self, x):
        h = self.inp(x)
        for block in self.res:
            h = block(h)
        # The output head runs in f32 even under bf16 autocast: its means must resolve pixel bins
        # (2/255 wide) and it is cheap (W -> 2*Cout channels).
        with torch.autocast(h.device.type, enabled=False):
            out = self.out(F.elu(h.float()))
        mu, r = out[:, : self.cout], out[:, self.cout :]
        return mu, dists.clamp_log_scale(r, self.min_ls)


def to_unit(k):
    """Samples 0..255 -> x in [-1, 1]: f32 division then f32 subtraction, as the spec says."""
    return k.to(torch.float32) / 127.5 - 1.0


class BitSwapVAE(nn.Module):
    def __init__(self, cfg, dropout=0.0):
        super().__init__()
        self.cfg = cfg
        nets = {}
        for name in cfg.net_names():
            cin, cout = cfg.net_io(name)
            min_ls = cfg.min_log_scale_pixel if name == "p0" else cfg.min_log_scale_latent
            nets[name] = Net(cin, cout, cfg.width, cfg.res_blocks, dropout, min_ls)
        self.nets = nn.ModuleDict(nets)

    def pixel_log_prob(self, k, mu, ls):
        """log p(x | z1) per image (nats, [B]) from p0's outputs; k: uint8 [B, C, P, P]."""
        if self.cfg.pixel_context == "local-linear":
            mu, ls = local.mean_and_scale(to_unit(k), mu, ls)
            return dists.pixel_log_prob(k, mu, ls).flatten(1).sum(1)
        return dists.pixel_log_prob(F.pixel_unshuffle(k, 2), mu, ls).flatten(1).sum(1)

    # -- training objective: continuous latents ---------------------------------------------------
    def elbo_terms(self, k):
        """k: uint8 [B, C, P, P]. Returns (recon [B], kls list of [B, Cz, H, W]), in nats.

        recon = -log p(x|z1); kls[i] = log q(z_{i+1}|.) - log p(z_{i+1}|.) per latent element, with
        single reparameterised samples (the usual unbiased estimate of the KL).
        """
        L = self.cfg.latent_layers
        s = F.pixel_unshuffle(to_unit(k), 2)
        zs, logq = [], []
        inp = s
        for i in range(L):
            mu, ls = self.nets[f"q{i}"](inp)
            z = dists.logistic_sample(mu, ls)
            logq.append(dists.logistic_log_density(z, mu, ls))
            zs.append(z)
            inp = z
        recon = -self.pixel_log_prob(k, *self.nets["p0"](zs[0]))
        kls = []
        for i in range(L):
            if i + 1 < L:
                mu, ls = self.nets[f"p{i + 1}"](zs[i + 1])
                logp = dists.logistic_log_density(zs[i], mu, ls)
            else:
                zero = torch.zeros_like(zs[i])
                logp = dists.logistic_log_density(zs[i], zero, zero)
            kls.append(logq[i] - logp)
        return recon, kls

    # -- coding cost: discretised latents ---------------------------------------------------------
    @torch.no_grad()
    def discrete_cost(self, k, edges, centres, generator=None):
        """Bits-back coding cost (nats, [B]) with latents discretised as spec section 2 says.

        Each z_i is sampled continuously from q and replaced by its bin; every net is fed bin
        centres. Sampling z from q and taking its bin is exactly sampling the bin from Q.
        edges/centres: the shipped f32 tensors (on k's device).
        """
        L = self.cfg.latent_layers
        s = F.pixel_unshuffle(to_unit(k), 2)
        inp, bins, cz, cost = s, [], [], 0.0
        for i in range(L):
            mu, ls = self.nets[f"q{i}"](inp)
            z = dists.logistic_sample(mu, ls, generator)
            b = dists.latent_bin_of(z, edges)
            cost = cost + dists.latent_bin_log_prob(b, mu, ls, edges).flatten(1).sum(1)
            bins.append(b)
            inp = centres[b]
            cz.append(inp)
        cost = cost - self.pixel_log_prob(k, *self.nets["p0"](cz[0]))
        for i in range(L):
            if i + 1 < L:
                mu, ls = self.nets[f"p{i + 1}"](cz[i + 1])
            else:
                mu = ls = torch.zeros_like(cz[i])
            cost = cost - dists.latent_bin_log_prob(bins[i], mu, ls, edges).flatten(1).sum(1)
        return cost

    # -- export -----------------------------------------------------------------------------------
    def export_tensors(self):
        """Plain f32 tensors named as in spec section 3 (weight norm folded)."""
        out = {}
        with torch.no_grad():
            for name, net in self.nets.items():
                convs = [("in", net.inp)]
                for b, block in enumerate(net.res):
                    convs += [(f"res{b}.conv1", block.conv1), (f"res{b}.conv2", block.conv2)]
                convs.append(("out", net.out))
                for cname, conv in convs:
                    out[f"{name}.{cname}.weight"] = conv.folded_weight().float().cpu().contiguous()
                    out[f"{name}.{cname}.bias"] = conv.bias.float().cpu().contiguous()
        n = self.cfg.latent_bins
        out["latent.edges"] = dists.latent_edges(n).float()
        out["latent.centres"] = dists.latent_centres(n).float()
        return out
