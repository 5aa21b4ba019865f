"""Export to, load from, and check the NAME.json + NAME.safetensors pair of spec/model.md section 3."""
import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from . import dists
from .config import OPTIONAL, ModelConfig, config_from_json
from .model import BitSwapVAE

FORMAT = "bsar-model"


def expected_shapes(cfg):
    """Every tensor name of the weights file with its shape, in spec order."""
    W = cfg.width
    shapes = {}
    for name in cfg.net_names():
        cin, cout = cfg.net_io(name)
        shapes[f"{name}.in.weight"], shapes[f"{name}.in.bias"] = (W, cin, 3, 3), (W,)
        for b in range(cfg.res_blocks):
            for c in ("conv1", "conv2"):
                shapes[f"{name}.res{b}.{c}.weight"], shapes[f"{name}.res{b}.{c}.bias"] = (W, W, 3, 3), (W,)
        shapes[f"{name}.out.weight"], shapes[f"{name}.out.bias"] = (2 * cout, W, 3, 3), (2 * cout,)
    shapes["latent.edges"] = (cfg.latent_bins - 1,)
    shapes["latent.centres"] = (cfg.latent_bins,)
    return shapes


def _atomic_write(path, write):
    tmp = path + ".tmp"
    write(tmp)
    os.chmod(tmp, 0o644)  # safetensors creates files 0600
    os.replace(tmp, path)


def write_model(model, prefix, name, train_info, table=None):
    """Write PREFIX.safetensors and PREFIX.json from a (EMA) BitSwapVAE.

    table: (edges, centres) f32 latent bin table to ship; None = the default equal-mass table.
    """
    cfg = model.cfg
    tensors = model.export_tensors()
    if table is not None:
        assert not dists.table_problems(*table), dists.table_problems(*table)
        tensors["latent.edges"] = table[0].float().cpu().contiguous()
        tensors["latent.centres"] = table[1].float().cpu().contiguous()
    assert {k: tuple(v.shape) for k, v in tensors.items()} == expected_shapes(cfg)
    doc = {"format": FORMAT, "version": cfg.json_version, "name": name, **cfg.to_json_fields(), "train": train_info}
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    _atomic_write(prefix + ".safetensors", lambda p: save_file(tensors, p))

    def write_json(p):
        with open(p, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")

    _atomic_write(prefix + ".json", write_json)


def read_model(prefix):
    """(cfg, json dict, tensors dict) of an exported model, without checks."""
    with open(prefix + ".json", encoding="utf-8") as f:
        doc = json.load(f)
    cfg = config_from_json(doc)
    tensors = {}
    with safe_open(prefix + ".safetensors", framework="pt") as f:
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    return cfg, doc, tensors


def load_exported(prefix):
    """A BitSwapVAE (eval mode) whose convs use the exported plain weights as they are."""
    cfg, _, tensors = read_model(prefix)
    model = BitSwapVAE(cfg)
    for name, net in model.nets.items():
        convs = [("in", net.inp)] + [(f"res{b}.conv{j}", getattr(blk, f"conv{j}"))
                                     for b, blk in enumerate(net.res) for j in (1, 2)] + [("out", net.out)]
        for cname, conv in convs:
            del conv.g
            conv.g = None
            conv.weight = torch.nn.Parameter(tensors[f"{name}.{cname}.weight"])
            conv.bias = torch.nn.Parameter(tensors[f"{name}.{cname}.bias"])
    return model.eval(), cfg


def check_exported(prefix):
    """List of the ways PREFIX.{json,safetensors} departs from spec/model.md section 3 (empty: ok)."""
    problems = []
    with open(prefix + ".json", encoding="utf-8") as f:
        doc = json.load(f)
    version = 2 if "pixel_context" in doc else 1
    if doc.get("format") != FORMAT or doc.get("version") != version:
        problems.append(f"format/version are {doc.get('format')!r}/{doc.get('version')!r}, "
                        f"want {FORMAT!r}/{version}")
    for key, field in ModelConfig.__dataclass_fields__.items():
        want = {float: (int, float), str: (str,)}.get(field.type, (int,))
        if key in OPTIONAL and key not in doc:
            continue
        if key not in doc:
            problems.append(f"json lacks {key!r}")
        elif not isinstance(doc[key], want) or isinstance(doc[key], bool):
            problems.append(f"json {key!r} is {type(doc[key]).__name__}, want {field.type.__name__}")
    for key in ("name", "train"):
        if key not in doc:
            problems.append(f"json lacks {key!r}")
    if problems:
        return problems
    try:
        cfg = config_from_json(doc)
    except ValueError as e:
        return [f"json config: {e}"]
    want = expected_shapes(cfg)
    with safe_open(prefix + ".safetensors", framework="pt") as f:
        names = set(f.keys())
        for k in sorted(names - set(want)):
            problems.append(f"unexpected tensor {k}")
        for k in sorted(set(want) - names):
            problems.append(f"missing tensor {k}")
        for k in sorted(names & set(want)):
            sl = f.get_slice(k)
            if sl.get_dtype() != "F32":
                problems.append(f"{k}: dtype {sl.get_dtype()}, want F32")
            if tuple(sl.get_shape()) != want[k]:
                problems.append(f"{k}: shape {tuple(sl.get_shape())}, want {want[k]}")
            elif not torch.isfinite(f.get_tensor(k)).all():
                problems.append(f"{k}: non-finite values")
        if not problems:
            # Any valid table is allowed (the default equal-mass one, or one fitted by fit_bins).
            problems += dists.table_problems(f.get_tensor("latent.edges"), f.get_tensor("latent.centres"))
    return problems
