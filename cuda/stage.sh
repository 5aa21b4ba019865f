#!/usr/bin/env bash
# Builds (here, without a GPU) everything cuda/check.sh runs on the GPU machine, and puts it in
# target/gpu-check/: carry that folder there. The repository travels too, and both together must
# stay under 64 MiB; this script checks it.
#
#   bash cuda/stage.sh            # IMAGES=2000 by default (all of cifar10-sample)
#
# Contents: bsar (the `--features cuda` binary), gpu-tests (tests/gpu.rs), bench_gpu_rans,
# bench_gpu_engine, STAGED (commit and build date), and data/cifar/: the first IMAGES images of
# ../shared/data/cifar10-sample (an evaluation set: for benchmarks only) converted to PPM, which
# bsar restores byte for byte, so the check can compare extracted files with the originals.
# The tests and bench_gpu_engine read the shipped models from models/ at run time rather than
# embedding them (22 MB each time); only bsar embeds them.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${IMAGES:-2000}
src=../shared/data/cifar10-sample
[ -d "$src" ] || { echo "stage.sh: $src is missing (the benchmark data)" >&2; exit 1; }
out=target/gpu-check
rm -rf "$out"
mkdir -p "$out/data/cifar"
cargo build --release --features cuda --bin bsar --example bench_gpu_rans --example bench_gpu_engine
tests=$(cargo test --release --features cuda --test gpu --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        print(m["executable"])')
[ -n "$tests" ] || { echo "stage.sh: the gpu test binary was not built" >&2; exit 1; }
cp "$tests" "$out/gpu-tests"
cp target/release/bsar target/release/examples/bench_gpu_rans target/release/examples/bench_gpu_engine "$out/"
for f in "$out"/bsar "$out"/gpu-tests "$out"/bench_gpu_*; do strip --strip-all "$f"; done
python3 - "$src" "$out/data/cifar" "$images" <<'PY'
import os, sys
try:
    from PIL import Image
except ImportError:
    sys.exit("stage.sh: converting the images needs Pillow (pip install pillow)")
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(f for f in os.listdir(src) if f.endswith(".png"))[:n]
if len(names) < n:
    sys.exit(f"stage.sh: {src} has {len(names)} PNG images, {n} asked for")
for f in names:
    im = Image.open(os.path.join(src, f)).convert("RGB")
    with open(os.path.join(dst, f[:-4] + ".ppm"), "wb") as o:
        o.write(b"P6\n%d %d\n255\n" % im.size + im.tobytes())
print(f"{len(names)} images from {src} as PPM")
PY
{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m) by $(rustc --version)"
    echo "data $images images of cifar10-sample (PPM)"
} > "$out/STAGED"
# The binaries must start without libcuda.so.1 (they load it at run time).
if readelf -d "$out"/bsar "$out"/gpu-tests "$out"/bench_gpu_* | grep -q 'NEEDED.*libcuda'; then
    echo "stage.sh: a binary depends on libcuda.so directly" >&2
    exit 1
fi
ls -l "$out"
# What travels: tracked and untracked-not-ignored files, plus this folder.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
staged=$(du -sb "$out" | cut -f1)
total=$(( (tree + staged) / 1048576 ))
echo "stage.sh: repository $((tree / 1048576)) MiB + $out $((staged / 1048576)) MiB = $total MiB (limit 64)"
if [ $((tree + staged)) -ge $((63 * 1048576)) ]; then
    echo "stage.sh: too large to carry: stage fewer IMAGES" >&2
    exit 1
fi
