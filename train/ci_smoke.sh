#!/usr/bin/env bash
# CI smoke test of the training code, on CPU, with data shipped in the repo (no /work/shared needed):
# maths self-test, a few training steps, evaluation, export, export checks, and the parity fixture.
# About a minute on 2 cores once torch is installed.   usage: bash train/ci_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/train${PYTHONPATH:+:$PYTHONPATH}"
# One thread: tiny models gain nothing from more, and OpenMP spinning is very slow on a busy machine.
export OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py() { python3 -m "bsar_train.$1" "${@:2}"; }

echo "== self-test (distributions, squeeze, crops, export round trip)"
py selftest

echo "== train a tiny model for 150 steps on tests/fixtures/train-images"
py train --images tests/fixtures/train-images --name smoke --out "$tmp" --device cpu --threads 1 \
  --patch 16 --layers 2 --zchannels 4 --width 16 --res-blocks 1 --batch 16 --steps 150 --warmup 20 \
  --log-every 50 --eval-minutes 0.25 --heldout-crops 64 --scales 1,2
python3 - "$tmp/smoke.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["train"]
for k in ("heldout_nelbo_bpd", "heldout_discrete_bpd"):
    v = t.get(k)
    if not (isinstance(v, float) and 0 < v < 8.5):
        sys.exit(f"error: smoke.json train.{k} = {v!r}, want a figure below 8.5 bits/dim after training")
print(f"ok: held-out {t['heldout_nelbo_bpd']} bpd, discretised {t['heldout_discrete_bpd']} bpd")
PY

echo "== resume it for 50 more steps"
py train --images tests/fixtures/train-images --name smoke --out "$tmp" --device cpu --threads 1 \
  --patch 16 --layers 2 --zchannels 4 --width 16 --res-blocks 1 --batch 16 --steps 200 --warmup 20 \
  --log-every 50 --heldout-crops 64 --scales 1,2 --resume | tee "$tmp/resume.out"
grep -q "training done: 200 steps" "$tmp/resume.out" || { echo "error: resume did not continue to step 200" >&2; exit 1; }

echo "== check the export against spec/model.md and the checkpoint"
py check_export "$tmp/smoke.json" --ckpt "$tmp/smoke.ckpt"

echo "== evaluate the exported model on full 16x16 tiles"
py evaluate --model "$tmp/smoke" --images tests/fixtures/train-images

echo "== fit its latent bin table and re-export (nets copied, table checked against spec 4.7)"
py fit_bins --model "$tmp/smoke" --images tests/fixtures/train-images --scales 1,2 --out "$tmp/fit" \
  --name smoke-fit --fit-images 128 --heldout-crops 64 --threads 1
py check_export "$tmp/fit/smoke-fit.json"
py evaluate --model "$tmp/fit/smoke-fit" --images tests/fixtures/train-images

echo "== the committed parity fixture agrees with its model"
py check_export tests/fixtures/model-tiny.json
py make_fixture --verify --out tests/fixtures

echo "== the fixture generator runs (into a scratch folder)"
py make_fixture --images tests/fixtures/train-images --out "$tmp"
py make_fixture --verify --out "$tmp"
echo "== bsar's Rust engine loads the exported model and codes an image with it"
cargo run --quiet --release --example check_model -- "$tmp/smoke.json" "$tmp/smoke.safetensors"

echo "== the same for a model whose pixels see their neighbours (spec/model.md 5)"
py train --images tests/fixtures/train-images --name smoke-local --out "$tmp" --device cpu --threads 1 \
  --patch 16 --layers 2 --zchannels 4 --width 16 --res-blocks 1 --batch 16 --steps 60 --warmup 20 \
  --log-every 30 --heldout-crops 64 --scales 1,2 --pixel-context local-linear
py check_export "$tmp/smoke-local.json" --ckpt "$tmp/smoke-local.ckpt"
cargo run --quiet --release --example check_model -- "$tmp/smoke-local.json" "$tmp/smoke-local.safetensors"
echo "train/ci_smoke.sh: all passed"
