#!/usr/bin/env bash
# Train bsar's three shipped models at once on one GPU, then export them into $OUT.
#
#   usage: OUT=/some/dir bash train/gpu_train.sh MINUTES      (run from the repository root)
#
# Needs: python3 with torch (CUDA) + safetensors + numpy + pillow, and the data inside the repo:
#   gpu/data/mnist/train-images-idx3-ubyte.gz   (MNIST train split; its last 5,000 images are held out)
#   gpu/data/photos-train/*.png                 (photos-train; every 20th file is held out)
# All three runs share the GPU and each stops after its --minutes, so all are exported within MINUTES
# (start-up, data loading, final evaluation and export take about a minute, reserved below).
# $OUT receives NAME.json + NAME.safetensors for each model and one combined train.log (7 files).
# Size overrides: MNIST_L/_CZ/_W/_R/_BATCH, RGB_..., FAST_... (see below); *_ARGS add trainer options.
# Checkpoints stay in runs/gpu/ (too big for $OUT); `--resume` continues from them.
set -euo pipefail
MINUTES=${1:?usage: OUT=dir bash train/gpu_train.sh MINUTES}
OUT=${OUT:?set OUT to the export folder}
DATA=${DATA:-gpu/data}
RUNS=${RUNS:-runs/gpu}
RESERVE=${RESERVE:-1.25}         # minutes kept for start-up, final evaluation and export
DEVICE=${DEVICE:-cuda}           # DEVICE=cpu (with tiny sizes) only to test this script itself
TRAIN_MIN=$(python3 -c "print(max(0.5, $MINUTES - $RESERVE))")
mkdir -p "$OUT" "$RUNS"
for f in "$DATA/mnist/train-images-idx3-ubyte.gz" "$DATA/photos-train"; do
  [ -e "$f" ] || { echo "error: $f is missing (populate $DATA first)" >&2; exit 1; }
done
export PYTHONPATH="$(cd "$(dirname "$0")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
if [ "$DEVICE" = cuda ]; then
  python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name())"
fi

common=(--device "$DEVICE" --minutes "$TRAIN_MIN" --out "$RUNS" --threads ${THREADS:-4} --log-every ${LOG_EVERY:-500})
# All three append to one log in $OUT (every line is prefixed with its model's name and written in
# one piece), so the log is there even if this script is stopped early.
LOG="$OUT/train.log"
run() {  # run NAME ARGS...: one training process in the background
  local name=$1; shift
  python3 -m bsar_train.train --name "$name" "${common[@]}" "$@" >> "$LOG" 2>&1 &
  pids+=($!)
}
pids=()
# Grayscale, 28x28 (14x14 grid): deep and narrow, as Bit-Swap's MNIST model (8 layers, 1 channel each).
run mnist --mnist "$DATA/mnist/train-images-idx3-ubyte.gz" \
  --layers ${MNIST_L:-8} --zchannels ${MNIST_CZ:-1} --width ${MNIST_W:-64} --res-blocks ${MNIST_R:-2} \
  --batch ${MNIST_BATCH:-512} --dropout 0.2 ${MNIST_ARGS:-}
# Natural RGB 32x32, compressing: the file must stay < 16 MB (W=112, R=2, L=4 is about 14.5 MB).
run rgb --images "$DATA/photos-train" \
  --layers ${RGB_L:-4} --zchannels ${RGB_CZ:-8} --width ${RGB_W:-96} --res-blocks ${RGB_R:-2} \
  --batch ${RGB_BATCH:-256} --dropout 0.1 ${RGB_ARGS:-}
# Natural RGB 32x32, fast: a quarter of the compute per patch.
run rgb-fast --images "$DATA/photos-train" \
  --layers ${FAST_L:-3} --zchannels ${FAST_CZ:-8} --width ${FAST_W:-64} --res-blocks ${FAST_R:-1} \
  --batch ${FAST_BATCH:-512} --dropout 0.1 ${FAST_ARGS:-}

status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
for name in mnist rgb rgb-fast; do
  for ext in json safetensors; do
    [ -f "$RUNS/$name.$ext" ] && cp "$RUNS/$name.$ext" "$OUT/" || { echo "error: $name.$ext missing" >&2; status=1; }
  done
done
python3 -m bsar_train.check_export "$OUT"/*.json >> "$LOG" 2>&1 || status=1
grep -e "held-out (" -e "^ok:" -e "^error" "$LOG" || true
exit $status
