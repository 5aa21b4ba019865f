#!/usr/bin/env bash
# The GPU check (issue #6): one command, on a machine with an NVIDIA GPU, that builds nothing.
# It runs what cuda/stage.sh staged (carry target/gpu-check/ to the machine with the repository):
#   1. the GPU tests: rANS streams, every model net, and the Bit-Swap codec with its nets batched
#      on the device, bit for bit against the CPU (they FAIL here if no device: BSAR_REQUIRE_GPU=1);
#   2. the archive checks, with the real `bsar`: an archive made with --device gpu is byte-identical
#      to one made with --device cpu; each verifies and extracts on the other device; the extracted
#      files equal the originals byte for byte (PPM);
#   3. the benchmark: images/s and MB/s of create and extract, GPU against CPU, same data (the
#      staged cifar10-sample images, default model rgb-fast), with bsar's default chunks (256
#      images) and with small chunks (4 images: more chunks, so larger GPU batches);
#   4. the kernel benchmarks: rANS symbols/s and engine patches/s, GPU against CPU.
#
#   bash cuda/check.sh            # from the repository root; about 2 to 3 minutes on an H200
#
# The driver library is looked up on LD_LIBRARY_PATH; /usr/local/nvidia/lib64 is added first.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/gpu-check
if [ ! -x "$bin/gpu-tests" ] || [ ! -x "$bin/bsar" ]; then
    echo "check.sh: $bin is incomplete: run bash cuda/stage.sh on the build machine and carry $bin" >&2
    exit 2
fi
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cat "$bin/STAGED"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
echo "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
status=0
step() {
    local name=$1
    shift
    echo
    echo "== $name"
    local t0=$SECONDS
    if "$@"; then
        echo "== $name: ok ($((SECONDS - t0)) s)"
    else
        echo "== $name: FAILED ($((SECONDS - t0)) s)"
        status=1
    fi
}
bsar=$PWD/$bin/bsar
data=$bin/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy beside the archives, so that archived paths are data/cifar/...
cp -r "$data" "$work/data"
images=$(ls "$data/cifar" | wc -l)
pixel_bytes=$(cat "$data"/cifar/* | wc -c)

# Runs bsar, and prints its wall time in seconds on fd 3.
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    "$bsar" "$@" || return 1
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' >&3
}

archives() {
    cd "$work" || return 1
    set -e
    "$bsar" create -q g.bsar data --device gpu
    "$bsar" create -q c.bsar data --device cpu
    cmp g.bsar c.bsar
    echo "create: GPU and CPU archives byte-identical ($(stat -c %s g.bsar) bytes, $images images)"
    "$bsar" verify -q g.bsar --device cpu
    "$bsar" verify -q c.bsar --device gpu
    echo "verify: GPU archive on the CPU, CPU archive on the GPU: every CRC matches"
    "$bsar" extract -q g.bsar -C xg --device cpu
    "$bsar" extract -q c.bsar -C xc --device gpu
    diff -r data/ xg/data/
    diff -r data/ xc/data/
    echo "extract: GPU archive on the CPU, CPU archive on the GPU: all $images files equal the originals"
    # --device auto picks the GPU here, silently.
    "$bsar" create -q a.bsar data 2>auto.err
    cmp a.bsar c.bsar
    [ ! -s auto.err ] || { cat auto.err; return 1; }
    echo "auto: GPU found, same archive"
    set +e
}

benchmark() {
    cd "$work" || return 1
    echo "data: $images images of cifar10-sample (32x32 RGB, PPM), $pixel_bytes bytes; model rgb-fast;"
    echo "MB/s = 10^6 image bytes (PPM files, the pixels plus a 15-byte header) per second; threads: $(nproc)"
    printf '%-22s %-6s %10s %10s %9s %10s %10s %9s %11s\n' chunks device "create s" "images/s" "MB/s" \
        "extract s" "images/s" "MB/s" "archive B"
    local -a sizes=()
    for ci in 256 4; do
        for dev in cpu gpu; do
            rm -rf out b.bsar
            local tc te
            tc=$(timed create -q b.bsar data --device $dev --chunk-images $ci 3>&1 >/dev/null) || return 1
            te=$(timed extract -q b.bsar -C out --device $dev 3>&1 >/dev/null) || return 1
            diff -r data/ out/data/ >/dev/null || { echo "extract ($dev, $ci per chunk): files differ"; return 1; }
            local size
            size=$(stat -c %s b.bsar)
            sizes+=("$ci:$size")
            awk -v c="$ci images per chunk" -v d=$dev -v tc="$tc" -v te="$te" -v n="$images" \
                -v b="$pixel_bytes" -v s="$size" 'BEGIN {
                printf "%-22s %-6s %10.2f %10.1f %9.3f %10.2f %10.1f %9.3f %11d\n",
                    c, d, tc, n / tc, b / tc / 1e6, te, n / te, b / te / 1e6, s }'
        done
    done
    # The same chunking gives the same archive on both devices.
    [ "${sizes[0]#*:}" = "${sizes[1]#*:}" ] && [ "${sizes[2]#*:}" = "${sizes[3]#*:}" ] ||
        { echo "archive sizes differ between devices: ${sizes[*]}"; return 1; }
}

step "GPU tests" env BSAR_REQUIRE_GPU=1 timeout 240 "$bin/gpu-tests" --test-threads=1 --nocapture
step "archives: GPU against CPU, both ways" timeout 240 bash -c "$(declare -f archives); $(declare -p bsar data work images); archives"
step "benchmark: bsar create/extract, GPU against CPU" timeout 300 bash -c "$(declare -f timed benchmark); $(declare -p bsar data work images pixel_bytes); benchmark"
step "rANS benchmark" timeout 120 "$bin/bench_gpu_rans"
step "engine benchmark (rgb-fast)" timeout 120 "$bin/bench_gpu_engine" rgb-fast 4096
echo
if [ $status = 0 ]; then echo "GPU check passed"; else echo "GPU check FAILED"; fi
exit $status
