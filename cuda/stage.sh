#!/usr/bin/env bash
# Builds (here, without a GPU) everything cuda/check.sh runs on the GPU machine, and puts it in
# target/gpu-check/ (stripped of debug info, about 50 MB; a carry holds 64 MiB): carry that folder there.
#
#   bash cuda/stage.sh
#
# Contents: gpu-tests (tests/gpu.rs), bench_gpu_rans, bench_gpu_engine, and STAGED (the
# commit and the build's date).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/gpu-check
rm -rf "$out"
mkdir -p "$out"
cargo build --release --features cuda --example bench_gpu_rans --example bench_gpu_engine
tests=$(cargo test --release --features cuda --test gpu --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        print(m["executable"])')
[ -n "$tests" ] || { echo "stage.sh: the gpu test binary was not built" >&2; exit 1; }
cp "$tests" "$out/gpu-tests"
cp target/release/examples/bench_gpu_rans target/release/examples/bench_gpu_engine "$out/"
for f in "$out"/*; do strip --strip-debug "$f"; done
{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m) by $(rustc --version)"
} > "$out/STAGED"
# The binaries must start without libcuda.so.1 (they load it at run time).
if readelf -d "$out"/gpu-tests "$out"/bench_gpu_* | grep -q 'NEEDED.*libcuda'; then
    echo "stage.sh: a binary depends on libcuda.so directly" >&2
    exit 1
fi
du -sh "$out"
ls -l "$out"
