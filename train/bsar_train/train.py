"""Train a bsar Bit-Swap model, then export its EMA weights (spec/model.md section 3).

    PYTHONPATH=train python -m bsar_train.train --mnist /work/shared/data/mnist/train-images-idx3-ubyte.gz \\
        --name mnist --out runs --minutes 10 --device cuda

Training stops at --steps or when --minutes of wall-clock time are used, whichever comes first; the
learning-rate schedule runs over that same span. A checkpoint (OUT/NAME.ckpt) is written every
--ckpt-minutes and at the end; --resume continues from it.
"""
import argparse
import copy
import datetime
import math
import os
import sys
import time

import torch

from . import data
from .config import LN2, ModelConfig
from .evaluate import heldout_bpd
from .export import write_model
from .model import BitSwapVAE


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--mnist", help="MNIST train-images IDX file; its last 5,000 images are held out")
    src.add_argument("--images", help="folder of images (every 20th file held out), random crops")
    ap.add_argument("--name", required=True, help="model name: files OUT/NAME.{json,safetensors,ckpt,log}")
    ap.add_argument("--out", default="runs")
    g = ap.add_argument_group("model (spec/model.md)")
    g.add_argument("--channels", type=int, help="1 or 3 (default: 1 for --mnist, 3 for --images)")
    g.add_argument("--patch", type=int, help="P (default: 28 for --mnist, 32 for --images)")
    g.add_argument("--layers", type=int, default=4, help="latent layers L")
    g.add_argument("--zchannels", type=int, default=8, help="latent channels Cz")
    g.add_argument("--width", type=int, default=64, help="W")
    g.add_argument("--res-blocks", type=int, default=2, help="R")
    g.add_argument("--min-ls-latent", type=float, default=ModelConfig.min_log_scale_latent)
    g.add_argument("--min-ls-pixel", type=float, default=ModelConfig.min_log_scale_pixel)
    g.add_argument("--pixel-context", choices=("none", "local-linear"), default="none",
                   help="pixel likelihood: p(x|z1), or p(x|z1, context) with the causal neighbours")
    g = ap.add_argument_group("optimisation")
    g.add_argument("--batch", type=int, default=64)
    g.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    g.add_argument("--lr-end", type=float, default=5e-4, help="learning rate at the end (exponential decay)")
    g.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    g.add_argument("--optim", choices=("adam", "adamax"), default="adam")
    g.add_argument("--ema", type=float, default=0.999, help="EMA decay of the evaluated/exported weights")
    g.add_argument("--dropout", type=float, default=0.2)
    g.add_argument("--free-bits", type=float, default=0.1,
                   help="floor (nats per latent dim) on each layer's and channel's batch-mean KL")
    g.add_argument("--free-bits-end", type=float, default=0.8,
                   help="progress fraction at which the free-bits floor has faded to 0 (fades from "
                        "half-way), so that the end of training optimises the true ELBO")
    g.add_argument("--clip", type=float, default=5.0, help="gradient norm clip (loss in bits/dim)")
    g.add_argument("--steps", type=int, help="stop after this many steps")
    g.add_argument("--minutes", type=float, help="stop after this much wall-clock time (excl. start-up)")
    g = ap.add_argument_group("data")
    g.add_argument("--scales", default="1,1.5,2,3,4", help="downscale factors of --images crops")
    g.add_argument("--heldout-crops", type=int, default=4096, help="fixed held-out crops (--images)")
    g = ap.add_argument_group("running")
    g.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    g.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on for cuda)")
    g.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None,
                   help="fused Adam that skips non-finite steps on device (default: on for cuda)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format, faster convs on tensor cores (default: on for cuda)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--log-every", type=int, default=100, help="steps between progress lines")
    g.add_argument("--eval-minutes", type=float, default=1.0, help="minutes between held-out evaluations")
    g.add_argument("--eval-images", type=int, default=2048, help="held-out images per periodic evaluation")
    g.add_argument("--final-eval-images", type=int, help="held-out images in the final evaluation (default all)")
    g.add_argument("--ckpt-minutes", type=float, default=5.0)
    g.add_argument("--resume", action="store_true", help="continue from OUT/NAME.ckpt")
    g.add_argument("--init", metavar="PREFIX",
                   help="start from an exported model's weights (PREFIX.json/.safetensors, e.g. a "
                        "shipped one, whose checkpoint a later session no longer has); fresh optimiser")
    a = ap.parse_args(argv)
    if a.steps is None and a.minutes is None:
        ap.error("give --steps and/or --minutes")
    a.channels = a.channels or (1 if a.mnist else 3)
    a.patch = a.patch or (28 if a.mnist else 32)
    on_cuda = a.device.startswith("cuda")
    a.bf16 = on_cuda if a.bf16 is None else a.bf16
    a.fused = on_cuda if a.fused is None else a.fused
    a.channels_last = on_cuda if a.channels_last is None else a.channels_last
    if a.optim == "adamax":
        a.fused = False
    return a


class Logger:
    def __init__(self, path, name):
        self.f = open(path, "a", encoding="utf-8")
        self.name = name

    def __call__(self, msg):
        line = f"[{self.name} {datetime.datetime.now():%H:%M:%S}] {msg}"
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


def make_optimizer(a, params):
    if a.optim == "adamax":
        return torch.optim.Adamax(params, lr=a.lr, foreach=True)
    return torch.optim.Adam(params, lr=a.lr, fused=a.fused, foreach=not a.fused)


def lr_at(a, step, progress):
    warm = min(1.0, (step + 1) / max(1, a.warmup))
    return warm * a.lr * (a.lr_end / a.lr) ** progress


def free_bits_at(a, progress):
    fade = (a.free_bits_end - progress) / max(1e-9, a.free_bits_end - 0.5)
    return a.free_bits * min(1.0, max(0.0, fade))


def loss_fn(model, k, free_bits):
    """(loss to minimise, true nELBO per image) in bits/dim and nats. KL floors per layer & channel."""
    cfg = model.cfg
    recon, kls = model.elbo_terms(k)
    hw = cfg.grid * cfg.grid
    nelbo = recon + sum(kl.flatten(1).sum(1) for kl in kls)
    floored = recon.mean()
    for kl in kls:
        per_channel = kl.float().mean(dim=(0, 2, 3))  # nats per latent dim, for each channel
        floored = floored + torch.clamp(per_channel, min=free_bits).sum() * hw
    return floored / (cfg.dims * LN2), nelbo


def init_from_export(model, ema, prefix, cfg):
    """Loads exported (folded) weights into weight-normalised convs: v = w, g = ||w|| per filter,
    which is the same function; the exported EMA weights start both the model and its EMA."""
    from .export import read_model

    cfg2, _, tensors = read_model(prefix)
    if cfg2.to_json_fields() != cfg.to_json_fields():
        raise SystemExit(f"error: {prefix} has a different model config: {cfg2.to_json_fields()}")
    with torch.no_grad():
        for m in (model, ema):
            for name, net in m.nets.items():
                convs = [("in", net.inp)] + [(f"res{b}.conv{j}", getattr(blk, f"conv{j}"))
                                             for b, blk in enumerate(net.res) for j in (1, 2)] + [("out", net.out)]
                for cname, conv in convs:
                    w = tensors[f"{name}.{cname}.weight"].to(conv.weight.device)
                    conv.weight.copy_(w)
                    conv.g.copy_(w.flatten(1).norm(dim=1))
                    conv.bias.copy_(tensors[f"{name}.{cname}.bias"])


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    prefix = os.path.join(a.out, a.name)
    log = Logger(prefix + ".log", a.name)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.manual_seed(a.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = ModelConfig(channels=a.channels, patch=a.patch, latent_layers=a.layers,
                      latent_channels=a.zchannels, width=a.width, res_blocks=a.res_blocks,
                      min_log_scale_latent=a.min_ls_latent, min_log_scale_pixel=a.min_ls_pixel,
                      pixel_context=a.pixel_context).validate()

    t0 = time.time()
    if a.mnist:
        train_set, held = data.mnist_split(a.mnist, device)
        if (a.channels, a.patch) != (1, held.images.shape[-1]):
            raise SystemExit(f"error: MNIST needs --channels 1 --patch {held.images.shape[-1]}")
    else:
        scales = [float(s) for s in a.scales.split(",")]
        train_set, held = data.folder_split(a.images, a.patch, a.channels, scales, device,
                                            a.heldout_crops, seed=1234)
    log(f"data ({time.time() - t0:.1f} s): train = {train_set.description}; held-out = {held.description}")

    model = BitSwapVAE(cfg, dropout=a.dropout).to(device)
    mem = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=mem)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt = make_optimizer(a, model.parameters())
    params, ema_params = list(model.parameters()), list(ema.parameters())
    fused = a.fused
    n_params = sum(p.numel() for p in params)
    step, images_seen, elapsed_before = 0, 0, 0.0
    ckpt_path = prefix + ".ckpt"
    if a.init and not a.resume:
        init_from_export(model, ema, a.init, cfg)
        log(f"initialised from the exported model {a.init}")
    if a.resume:
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["cfg"] != cfg.to_json_fields():
            raise SystemExit(f"error: {ckpt_path} holds a different model config: {ck['cfg']}")
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, images_seen, elapsed_before = ck["step"], ck["images_seen"], ck["elapsed"]
        log(f"resumed from {ckpt_path} at step {step}")
    log(f"model {cfg.to_json_fields()}, {n_params} parameters, device {device}, bf16 {a.bf16}, "
        f"batch {a.batch}, {a.optim} lr {a.lr}->{a.lr_end}, dropout {a.dropout}, free bits {a.free_bits}")

    # The schedule spans this run's step / time budget, counted on top of what a resumed run had done.
    budget_s = None if a.minutes is None else elapsed_before + 60.0 * a.minutes
    start = time.time()

    def elapsed():
        return elapsed_before + time.time() - start

    def progress():
        p = 0.0
        if a.steps:
            p = max(p, step / a.steps)
        if budget_s:
            p = max(p, elapsed() / budget_s)
        return min(p, 1.0)

    def save_ckpt():
        tmp = ckpt_path + ".tmp"
        torch.save({"cfg": cfg.to_json_fields(), "model": model.state_dict(), "ema": ema.state_dict(),
                    "opt": opt.state_dict(), "step": step, "images_seen": images_seen,
                    "elapsed": elapsed(), "args": vars(a)}, tmp)
        os.replace(tmp, ckpt_path)

    # Running sums stay on the device; they are read (one sync) only when a progress line is printed.
    run_bpd = torch.zeros((), device=device)
    run_bad = torch.zeros((), device=device)
    run_norm = torch.zeros((), device=device)
    run_n, t_log, img_log = 0, time.time(), images_seen
    t_eval = t_ckpt = time.time()
    evals_ok = True
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16)
    model.train()
    while progress() < 1.0:
        prog = progress()
        lr = lr_at(a, step, prog)
        for group in opt.param_groups:
            group["lr"] = lr
        k = train_set.batch(a.batch)
        if mem is torch.channels_last:
            k = k.contiguous(memory_format=mem)
        with autocast:
            loss, nelbo = loss_fn(model, k, free_bits_at(a, prog))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # A non-finite gradient (rare bf16 overflow) must not poison the weights: skip that update and
        # count it. Fused Adam (CUDA) skips on device through `found_inf`, without a host sync.
        norm = torch.nn.utils.clip_grad_norm_(params, a.clip, foreach=True)
        bad = ~torch.isfinite(norm)
        if fused:
            opt.found_inf = bad.float()
        else:
            for p in params:
                if p.grad is not None:
                    p.grad.masked_fill_(bad | ~torch.isfinite(p.grad), 0.0)
        opt.step()
        # The EMA's warm-up lets it forget random initial weights quickly; weights from --init
        # are already an EMA (the exported one), which the warm-up would replace by the noisier
        # raw weights of the first steps (0.03 bits/dim worse on gray-mnist-ctx3).
        decay = a.ema if a.init else min(a.ema, (1 + step) / (10 + step))
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        run_bpd += nelbo.detach().float().mean() / (cfg.dims * LN2)
        run_bad += bad.float()
        run_norm += torch.where(bad, 0.0, norm)
        run_n += 1
        step += 1
        images_seen += a.batch

        if step % a.log_every == 0:
            now = time.time()
            log(f"step {step} ({100 * progress():.0f}%), {(images_seen - img_log) / (now - t_log):.0f} img/s, "
                f"lr {lr:.2e}, grad norm {float(run_norm) / run_n:.2f}, train nELBO {float(run_bpd) / run_n:.4f} bpd"
                + (f", {int(run_bad)} non-finite steps skipped" if float(run_bad) else ""))
            run_bpd.zero_(), run_bad.zero_(), run_norm.zero_()
            run_n, t_log, img_log = 0, now, images_seen
        if evals_ok and time.time() - t_eval > 60 * a.eval_minutes:
            try:
                cont, _ = heldout_bpd(ema, held.images, 512, device, discrete=False, limit=a.eval_images)
                log(f"step {step}: held-out nELBO {cont:.4f} bpd (EMA, {min(a.eval_images, len(held))} images)")
            except Exception as e:  # a one-shot GPU run must still end with a trained, exported model
                log(f"error: periodic evaluation failed, no more until the end: {e!r}")
                evals_ok = False
            t_eval = time.time()
        if time.time() - t_ckpt > 60 * a.ckpt_minutes:
            save_ckpt()
            t_ckpt = time.time()

    train_minutes = elapsed() / 60
    save_ckpt()
    log(f"training done: {step} steps, {images_seen} images, {train_minutes:.1f} min; final evaluation")
    n_final = min(len(held), a.final_eval_images or len(held))
    try:
        cont, disc = heldout_bpd(ema, held.images, 512, device, discrete=True, limit=n_final)
        log(f"held-out ({n_final} images): nELBO {cont:.4f} bpd (continuous latents), "
            f"{disc:.4f} bpd with discretised latents (coding cost without initial bits)")
    except Exception as e:  # export anyway; the figures can be recomputed with bsar_train.evaluate
        log(f"error: final evaluation failed: {e!r}")
        cont = disc = float("nan")
    info = {
        "data": train_set.description,
        "heldout": held.description,
        "heldout_images": n_final,
        "heldout_nelbo_bpd": round(cont, 5) if math.isfinite(cont) else None,
        "heldout_discrete_bpd": round(disc, 5) if math.isfinite(disc) else None,
        "steps": step, "images_seen": images_seen, "minutes": round(train_minutes, 2),
        "batch": a.batch, "optimizer": a.optim, "lr": [a.lr, a.lr_end], "ema": a.ema,
        "dropout": a.dropout, "free_bits_nats": a.free_bits, "grad_clip": a.clip, "seed": a.seed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "bf16": a.bf16, "parameters": n_params, "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }
    if a.mnist:
        info["heldout_note"] = "MNIST t10k (the test split) was not used for training"
    else:
        info["heldout_files"] = held.files
    write_model(ema, prefix, a.name, info)
    log(f"exported {prefix}.json and {prefix}.safetensors")
    return 0 if math.isfinite(cont) else 1


if __name__ == "__main__":
    sys.exit(main())
