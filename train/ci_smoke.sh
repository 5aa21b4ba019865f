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

echo "== train a tiny model for 30 steps on tests/fixtures/train-images"
py train --images tests/fixtures/train-images --name smoke --out "$tmp" --device cpu --threads 1 \
  --patch 16 --layers 2 --zchannels 4 --width 16 --res-blocks 1 --batch 16 --steps 30 --warmup 5 \
  --log-every 10 --eval-minutes 0.25 --heldout-crops 64 --scales 1,2
grep -q '"heldout_discrete_bpd"' "$tmp/smoke.json" || { echo "error: no held-out bpd in smoke.json" >&2; exit 1; }

echo "== resume it for 10 more steps"
py train --images tests/fixtures/train-images --name smoke --out "$tmp" --device cpu --threads 1 \
  --patch 16 --layers 2 --zchannels 4 --width 16 --res-blocks 1 --batch 16 --steps 40 --warmup 5 \
  --log-every 10 --heldout-crops 64 --scales 1,2 --resume | tee "$tmp/resume.out"
grep -q "training done: 40 steps" "$tmp/resume.out" || { echo "error: resume did not continue to step 40" >&2; exit 1; }

echo "== check the export against spec/model.md and the checkpoint"
py check_export "$tmp/smoke.json" --ckpt "$tmp/smoke.ckpt"

echo "== evaluate the exported model on full 16x16 tiles"
py evaluate --model "$tmp/smoke" --images tests/fixtures/train-images

echo "== the committed parity fixture agrees with its model"
py check_export tests/fixtures/model-tiny.json
py make_fixture --verify --out tests/fixtures

echo "== the fixture generator runs (into a scratch folder)"
py make_fixture --images tests/fixtures/train-images --out "$tmp"
py make_fixture --verify --out "$tmp"
echo "train/ci_smoke.sh: all passed"
