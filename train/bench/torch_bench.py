"""PyTorch CPU side of examples/bench_engine.rs: times the same 2L nets of a bsar model export.

Usage: python3 train/bench/torch_bench.py MODEL.json MODEL.safetensors BATCH THREADS SECONDS
Prints one JSON line: {"patches_per_s": ..., "torch": version, "threads": n}.
The nets follow spec/model.md section 2 (conv3x3 + ELU residual blocks), run under no_grad in
float32 with torch's default CPU convolution backend.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file


def net_forward(t, name, res_blocks, x):
    h = F.conv2d(x, t[f"{name}.in.weight"], t[f"{name}.in.bias"], padding=1)
    for b in range(res_blocks):
        p = f"{name}.res{b}"
        r = F.conv2d(F.elu(h), t[f"{p}.conv1.weight"], t[f"{p}.conv1.bias"], padding=1)
        r = F.conv2d(F.elu(r), t[f"{p}.conv2.weight"], t[f"{p}.conv2.bias"], padding=1)
        h = h + r
    return F.conv2d(F.elu(h), t[f"{name}.out.weight"], t[f"{name}.out.bias"], padding=1)


def main():
    cfg_path, st_path, batch, threads, seconds = sys.argv[1:6]
    batch, threads, seconds = int(batch), int(threads), float(seconds)
    torch.set_num_threads(threads)
    cfg = json.load(open(cfg_path))
    t = load_file(st_path)
    L, R, C, Cz, P = (cfg[k] for k in ("latent_layers", "res_blocks", "channels", "latent_channels", "patch"))
    g = P // 2
    gen = torch.Generator().manual_seed(0)
    inputs = {}
    for i in range(L):
        inputs[f"q{i}"] = torch.rand(batch, 4 * C if i == 0 else Cz, g, g, generator=gen) * 2 - 1
        inputs[f"p{i}"] = torch.rand(batch, Cz, g, g, generator=gen) * 2 - 1

    def all_nets():
        for name, x in inputs.items():
            net_forward(t, name, R, x)

    with torch.no_grad():
        all_nets()  # warm-up
        n, start = 0, time.perf_counter()
        while True:
            all_nets()
            n += 1
            el = time.perf_counter() - start
            if el >= seconds:
                break
    print(json.dumps({"patches_per_s": n * batch / el, "torch": torch.__version__, "threads": threads}))


if __name__ == "__main__":
    main()
