"""Check exported models against spec/model.md section 3: `python -m bsar_train.check_export A.json ...`

Verifies the JSON fields and types, every tensor's name, dtype (F32) and shape, the latent edges and
centres, and (with --ckpt) that the exported nets reproduce the checkpoint's EMA nets.
"""
import argparse
import json
import sys

import torch

from . import plain
from .export import check_exported, read_model


def compare_with_ckpt(prefix, ckpt_path):
    """Largest |difference| of (mu, ls) between the exported nets and the checkpoint's EMA nets."""
    from .config import ModelConfig
    from .model import BitSwapVAE

    cfg, _, tensors = read_model(prefix)
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    model = BitSwapVAE(ModelConfig(**ck["cfg"]))
    model.load_state_dict(ck["ema"])
    model.eval()
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for name in cfg.net_names():
        cin, _ = cfg.net_io(name)
        inp = torch.randn(4, cin, cfg.grid, cfg.grid, generator=g)
        with torch.no_grad():
            a, b = model.nets[name](inp), plain.run_net(tensors, cfg, name, inp)
        worst = max(worst, *(float((x - y).abs().max()) for x, y in zip(a, b)))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("json", nargs="+", help="NAME.json files (NAME.safetensors beside each)")
    ap.add_argument("--ckpt", help="training checkpoint to compare the (single) exported model with")
    a = ap.parse_args(argv)
    failed = False
    for path in a.json:
        prefix = path[: -len(".json")] if path.endswith(".json") else path
        try:
            problems = check_exported(prefix)
            if not problems and a.ckpt:
                diff = compare_with_ckpt(prefix, a.ckpt)
                if not diff < 1e-4:
                    problems.append(f"exported nets differ from the checkpoint's EMA nets by {diff:.3g}")
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            problems = [str(e)]
        if problems:
            failed = True
            for p in problems:
                print(f"error: {prefix}: {p}", file=sys.stderr)
        else:
            cfg, doc, tensors = read_model(prefix)
            n = sum(t.numel() for k, t in tensors.items() if not k.startswith("latent."))
            bpd = doc["train"].get("heldout_nelbo_bpd", "?")
            print(f"ok: {prefix}: {len(tensors)} tensors, {n} weights, held-out nELBO {bpd} bpd")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
